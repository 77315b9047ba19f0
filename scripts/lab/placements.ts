// Where the lab puts Aide's parts, one line a placement, and how it starts them: with the
// command lines of Aide's own Nomad jobs (nomad-jobs/), run as a Nomad client would
// (lib/nomad-runtime.ts) inside each emulated node's namespace and CPU budget.
//
// Every placement also runs, on the agent's node, an embeddings llama-server for long-term
// memory (as the deployment measured in placement b ran it; the cluster now runs it as
// its own aide-embeddings job, which these placements do not yet model; `memory: false`
// leaves it out) and the vision detector on a looping video standing in for the webcam.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDINGS_SERVICE, WYOMING_SERVICES, embeddingsJob, llamaCppRpcJob, rpcServiceName, voiceAgentJob, wyomingServiceJob, type Task } from "../../nomad-jobs";
import { placeSideServices, planLayers, llamaCppSplit, type LayerPlan, type ModelFacts, type PlannerNode, type SideService } from "../../infra/planner";
import { freePort, httpGet, httpOk, llamaPrefix, startLlamaServer, type RunningProcess } from "../../lib/llama";
import { prepareTask, runTask, type PreparedTask, type RunningTask, type ServiceRegistry } from "../../lib/nomad-runtime";
import { labThreads } from "./calibration";
import type { LabCluster, LabNode } from "./cluster";

export interface Placement {
  name: string;
  describe: string;
  /** The node of the voice agent job (agent, STT, TTS, vision, embeddings). */
  agent: string;
  /** How the LLM is laid out: the planner's choice over these nodes, a forced split
   * (head first), or every layer on RPC workers (one per node) so prompt evaluation
   * pipelines across them. */
  llm: { plan: "planner"; nodes: string[] } | { plan: "split"; nodes: string[] } | { plan: "pipeline"; nodes: string[]; microBatch: number };
  memory?: boolean;
  /** Run only when named (--placements): not in the default comparison. */
  optIn?: boolean;
  /** A side service's node instead of the planner's (the others stay where it put them). */
  sideServices?: Partial<Record<SideService, string>>;
  /** The deployment as it was before issue 13, for before/after in one run: llama-server
   * without --cache-reuse, --slot-save-path, --flash-attn off and the f32 K/V cache, the agent without prompt-cache warming,
   * interim transcripts, the pause and the short first piece. */
  before?: boolean;
}

/** The agent's settings that turn issue 13's changes off (agent/src/config.ts). */
export const AGENT_AS_BEFORE: Record<string, string> = { AIDE_WARM_PROMPT_CACHE: "false", STT_INTERIM_MS: "0", VAD_PAUSE_MS: "0", TTS_FIRST_WORDS: "0" };
/** llama-server flags added by issue 13, each with its value. */
const SERVER_FLAGS_SINCE = ["--cache-reuse", "--slot-save-path", "--flash-attn", "--cache-type-k", "--cache-type-v"];

/** Tokens a lab reply may have (LLM_MAX_TOKENS of the agent). */
export const LAB_REPLY_TOKENS = 24;

/** The lab's extra host: the household's phone (the conversation) and the LLM tap. */
export const PHONE = "phone";

export const PLACEMENTS: Placement[] = [
  { name: "one-node", describe: "(a) everything on one node", agent: "n1", llm: { plan: "planner", nodes: ["n1"] } },
  { name: "jobs-today", describe: "(b) as the jobs place it today: the agent on n1, the planner puts the LLM alone on another node and speech recognition, the voice and the embeddings server away from it", agent: "n1", llm: { plan: "planner", nodes: ["n1", "n2", "n3"] } },
  { name: "rpc-split", describe: "(c) the LLM split over n2 and n3 with llama.cpp RPC, as the job splits a model that fits nowhere alone (n2 keeps its layers on its CPU, -ngl sends the rest to n3)", agent: "n1", llm: { plan: "split", nodes: ["n2", "n3"] } },
  { name: "jobs-before", describe: "(b) as deployed before issue 13: the agent on n1 with speech in-process and the embeddings beside it, the LLM alone on another node, llama-server without --cache-reuse/--slot-save-path, with flash attention as llama.cpp defaults it (on) and its f16 K/V cache, the agent without warming, interim transcripts, the pause or the short first piece", agent: "n1", llm: { plan: "planner", nodes: ["n1", "n2", "n3"] }, optIn: true, before: true },
  { name: "tts-beside-agent", describe: "(b) with the voice on the agent's node, where the planner put it before sharing the idle node (speech recognition and the embeddings server still on n3)", agent: "n1", llm: { plan: "planner", nodes: ["n1", "n2", "n3"] }, optIn: true, sideServices: { tts: "n1" } },
  { name: "rpc-pipeline", describe: "(d) the LLM with every layer on RPC workers on n2 and n3 (llama-server on n2), so prompt evaluation pipelines across them in micro-batches of 64", agent: "n1", llm: { plan: "pipeline", nodes: ["n2", "n3"], microBatch: 64 }, optIn: true },
];

/** RAM the planner counts free on an emulated node: 8 GB less its 1 GiB headroom. */
const EMULATED_FREE_BYTES = 7 * 1024 ** 3;

/** An emulated node as the planner sees it: 2 cores at 2.66 GHz, 8 GB. */
export function emulatedFacts(node: LabNode): PlannerNode {
  return { name: node.name, address: node.address, memoryBytes: 8 * 1024 ** 3, cores: 2, cpuMHz: 2660 };
}

export interface LabModels {
  llm: string;
  llmFacts: ModelFacts;
  embeddings: string;
  speechDir: string;
  yolo: string;
  video: string;
  /** JSON list of the LLM's whitespace-only token ids (the tap bans them when it forces a tool call). */
  whitespaceIds: string;
}

export interface StartedPlacement {
  placement: Placement;
  plan: LayerPlan | undefined;
  /** Nodes that do LLM work, head first. */
  llmNodes: string[];
  /** The agent's WebSocket, reachable from the lab's network. */
  wsUrl: string;
  /** The LLM tap's control URL and its log. */
  forceToolUrl: string;
  tapLog: string;
  /** What each node runs, for the report. */
  roles: Record<string, string>;
  stop(): Promise<void>;
}

type Stoppable = { stop(): Promise<void> };

/** The job gives llama.cpp a Duo's two threads; under a budget of at most one core here
 * the lab runs one thread with the same budget (calibration.ts says why). */
function withLabThreads(prepared: PreparedTask, node: LabNode): PreparedTask {
  const i = prepared.args.indexOf("-t");
  if (i < 0) throw new Error(`the job's ${prepared.command} has no -t: teach scripts/lab/placements.ts`);
  prepared.args[i + 1] = String(labThreads(node.budget));
  return prepared;
}

async function waitHealthy(what: string, url: string, ns: string, timeoutMs: number, task?: RunningTask | RunningProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (task && "child" in task && (task.child.exitCode !== null || task.child.signalCode !== null)) {
      throw new Error(`${what} exited with ${task.child.exitCode ?? task.child.signalCode}: ${task.log().slice(-1500)}`);
    }
    if (await httpOk(url, ns)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} not healthy at ${url} within ${timeoutMs / 1000} s${task ? `: ${task.log().slice(-1500)}` : ""}`);
}

/** Waits (up to 10 min) for the agent's /health to say the prompt prefix is in the LLM's cache. */
async function prefixWarmed(url: string, ns: string): Promise<string> {
  const started = Date.now();
  let state = "unknown";
  while (Date.now() - started < 10 * 60_000) {
    const body = await httpGet(url, ns);
    try { state = String((JSON.parse(body ?? "") as { promptCache?: unknown }).promptCache ?? "not reported"); } catch { state = "no answer"; }
    if (state !== "warming" && state !== "no answer") break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return `the agent's prompt prefix (system prompt and tool schemas): ${state}, ${((Date.now() - started) / 1000).toFixed(0)} s after the agent answered /health — a first turn before then waits for it`;
}

async function waitLogged(what: string, task: RunningTask, ready: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (task.child.exitCode !== null || task.child.signalCode !== null) throw new Error(`${what} exited with ${task.child.exitCode ?? task.child.signalCode}: ${task.log().slice(-1500)}`);
    if (ready.test(task.log())) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not say it was ready within ${timeoutMs / 1000} s: ${task.log().slice(-1500)}`);
}

function taskOf(spec: { Job: { TaskGroups: { Name: string; Tasks: Task[] }[] } }, group: string, task: string): Task {
  const t = spec.Job.TaskGroups.find((g) => g.Name === group)?.Tasks.find((x) => x.Name === task);
  if (!t) throw new Error(`the job has no task ${group}/${task} — nomad-jobs changed; teach scripts/lab/placements.ts`);
  return t;
}

/** The LLM's plan in this placement, with the planner's own reasons where it decides. */
export function planFor(p: Placement, lab: LabCluster, facts: ModelFacts): { plan: LayerPlan; head: string; workers: { node: string; layers: number }[]; offloaded: number; threads: Record<string, number> } {
  const nodes = p.llm.nodes.map((n) => emulatedFacts(lab.node(n)));
  if (p.llm.plan === "planner") {
    const plan = planLayers(facts, nodes, { backend: "llamacpp-rpc", contextSize: 4096, parallel: 1, avoid: [p.agent] });
    const split = llamaCppSplit(plan);
    return { plan, head: plan.head, workers: split.workers.map((w) => ({ node: w.node, layers: w.layers })), offloaded: split.offloadedLayers, threads: Object.fromEntries(plan.shares.map((s) => [s.node, s.threads])) };
  }
  // A forced split: layers in proportion to speed, as the planner splits (equal nodes: halves).
  const [head, ...rest] = p.llm.nodes;
  const n = facts.layerCount;
  if (p.llm.plan === "split") {
    const headLayers = Math.ceil(n / p.llm.nodes.length);
    const each = rest.map((_, i) => Math.floor((n - headLayers) / rest.length) + (i < (n - headLayers) % rest.length ? 1 : 0));
    const plan: LayerPlan = { mode: "split", head, shares: [{ node: head, address: "", layers: headLayers, memoryBytes: 0, threads: 2, freeBytes: EMULATED_FREE_BYTES }, ...rest.map((w, i) => ({ node: w, address: "", layers: each[i], memoryBytes: 0, threads: 2, freeBytes: EMULATED_FREE_BYTES }))], kvCacheType: "f32", explanation: [`forced by the lab: ${head} ${headLayers} layers on its CPU, ${rest.map((w, i) => `${w} ${each[i]}`).join(", ")} over RPC`] };
    const split = llamaCppSplit(plan);
    return { plan, head, workers: split.workers.map((w) => ({ node: w.node, layers: w.layers })), offloaded: split.offloadedLayers, threads: Object.fromEntries(p.llm.nodes.map((x) => [x, 2])) };
  }
  const each = p.llm.nodes.map((_, i) => Math.floor(n / p.llm.nodes.length) + (i < n % p.llm.nodes.length ? 1 : 0));
  const plan: LayerPlan = { mode: "split", head, shares: p.llm.nodes.map((w, i) => ({ node: w, address: "", layers: each[i], memoryBytes: 0, threads: 2, freeBytes: EMULATED_FREE_BYTES })), kvCacheType: "f32", explanation: [`forced by the lab: every layer on RPC workers, ${p.llm.nodes.map((w, i) => `${w} ${each[i]}`).join(", ")}; llama-server on ${head} keeps only the token embeddings`] };
  return { plan, head, workers: p.llm.nodes.map((w, i) => ({ node: w, layers: each[i] })), offloaded: n + 1, threads: Object.fromEntries(p.llm.nodes.map((x) => [x, 2])) };
}

export async function startPlacement(p: Placement, lab: LabCluster, models: LabModels, scratch: string, log: (line: string) => void): Promise<StartedPlacement> {
  const running: Stoppable[] = [];
  const stopAll = async () => { for (const r of running.reverse()) await r.stop().catch(() => undefined); };
  // Each task's root (its rendered templates, local/, alloc/) goes when the placement stops.
  const run = (prepared: PreparedTask, node: LabNode): RunningTask => {
    const task = runTask(prepared, { netns: node.ns, wrapper: lab.wrapper(node) });
    running.push({ stop: async () => { await task.stop(); rmSync(prepared.taskRoot, { recursive: true, force: true }); } });
    return task;
  };
  try {
    const roles: Record<string, string> = {};
    const addRole = (node: string, what: string) => { roles[node] = roles[node] ? `${roles[node]} + ${what}` : what; };
    const { plan, head, workers, offloaded, threads } = planFor(p, lab, models.llmFacts);
    for (const line of plan.explanation) log(`  plan: ${line}`);
    const binDir = join(llamaPrefix("core2"), "bin");
    const headNode = lab.node(head);
    const llmPort = await freePort();
    const spec = llamaCppRpcJob({
      datacenters: ["lab"],
      binDir,
      modelPath: models.llm,
      modelAlias: "lab-llm",
      contextSize: 4096,
      parallel: 1,
      head: { node: head, threads: threads[head] ?? 2, cpuMHz: 5320, memoryMB: 2048 },
      workers: workers.map((w) => ({ node: w.node, threads: threads[w.node] ?? 2, cpuMHz: 5320, memoryMB: 2048, share: w.layers })),
      offloadedLayers: offloaded,
      kvCacheType: plan.kvCacheType,
      // As infra/jobs.ts bounds it: what the plan leaves of the head's RAM, at most 1 GiB.
      cacheRamMiB: Math.max(0, Math.min(1024, Math.floor(((plan.shares.find((x) => x.node === head)?.freeBytes ?? EMULATED_FREE_BYTES) - (plan.shares.find((x) => x.node === head)?.memoryBytes ?? 0)) / 1024 ** 2))),
    });
    // Workers first (the job's prestart task waits for them the same way).
    const services: ServiceRegistry = {};
    for (const w of workers) {
      const node = lab.node(w.node);
      const port = await freePort();
      const prepared = prepareTask(taskOf(spec, `rpc-${w.node}`, "ggml-rpc-server"), { ports: { rpc: { ip: node.address, port } } });
      run(withLabThreads(prepared, node), node);
      services[rpcServiceName(w.node)] = [{ Address: node.address, Port: port, Tags: ["llamacpp-rpc-worker"] }];
      addRole(w.node, `ggml-rpc-server (${w.layers} layers)`);
    }
    const headTask = taskOf(spec, "head", "llama-server");
    const prepared = prepareTask(headTask, { ports: { http: { ip: headNode.address, port: llmPort } }, services });
    if (p.llm.plan === "pipeline") prepared.args.push("-ub", String(p.llm.microBatch));
    if (p.before) {
      for (const flag of SERVER_FLAGS_SINCE) {
        const i = prepared.args.indexOf(flag);
        if (i < 0) throw new Error(`the job's llama-server has no ${flag}: teach scripts/lab/placements.ts what "before" means now`);
        prepared.args.splice(i, 2);
      }
    }
    const server = run(withLabThreads(prepared, headNode), headNode);
    addRole(head, workers.length ? (p.llm.plan === "pipeline" ? "llama-server (embeddings only)" : `llama-server (${plan.shares[0].layers} layers)`) : "llama-server (all layers)");
    await waitHealthy("llama-server", `http://${headNode.address}:${llmPort}/health`, headNode.ns, Number(process.env.AIDE_LAB_LOAD_TIMEOUT_S ?? 900) * 1000, server);
    const pipelined = /pipeline parallelism enabled/.test(server.log());
    log(`  llama-server ready on ${head} (${workers.length ? `RPC workers on ${workers.map((w) => w.node).join(", ")}` : "alone"}${pipelined ? "; its log says: pipeline parallelism enabled" : ""})`);

    // The tap: the lab's instrument, on the phone's host (one more LAN hop, outside every
    // node's budget; the lab's teardown still ends it).
    const phone = lab.node(PHONE);
    const tapPort = await freePort();
    const tapLog = join(scratch, `${p.name}-llm.jsonl`);
    const tap = lab.spawn(phone, [process.execPath, "-r", require.resolve("ts-node/register/transpile-only"), join(__dirname, "llm-tap.ts"), `${phone.address}:${tapPort}`, `http://${headNode.address}:${llmPort}`, tapLog, models.whitespaceIds]);
    running.push(tap);
    await waitHealthy("the LLM tap", `http://${phone.address}:${tapPort}/health`, phone.ns, 60_000);

    // Speech recognition, the voice and the embeddings server as the jobs place them
    // (infra/planner.ts placeSideServices over this placement's nodes): each its own task,
    // found by the agent through the services its endpoints template renders. Before
    // issue 13 the agent did speech in-process and the lab ran the embeddings beside it.
    const agentNode = lab.node(p.agent);
    const agentDir = join(__dirname, "..", "..", "agent");
    const tsNodeRegister = require.resolve("ts-node/register/transpile-only");
    const agentServices: ServiceRegistry = { "aide-llm": [{ Address: phone.address, Port: tapPort, Tags: ["llamacpp-rpc"] }] };
    let embedUrl: string | undefined;
    if (!p.before) {
      const side = placeSideServices([...new Set([...p.llm.nodes, p.agent])].map((n) => emulatedFacts(lab.node(n))), plan, p.agent);
      for (const line of side.explanation) log(`  plan: ${line}`);
      for (const [service, node] of Object.entries(p.sideServices ?? {}) as [SideService, string][]) {
        side.nodes[service] = [node, ...side.nodes[service].filter((n) => n !== node)];
        log(`  this placement moves ${service} to ${node}`);
      }
      for (const kind of ["stt", "tts"] as const) {
        const node = lab.node(side.nodes[kind][0]);
        const port = await freePort();
        const spec = wyomingServiceJob({ datacenters: ["lab"], nodes: side.nodes[kind], kind, agentDir, nodeBinary: process.execPath, tsNodeRegister, modelsDir: models.speechDir, ttsVoice: "auto", sttThreads: 1 });
        const task = run(prepareTask(spec.Job.TaskGroups[0].Tasks[0], { ports: { wyoming: { ip: node.address, port } } }), node);
        await waitLogged(`the ${kind} service`, task, /listening on tcp:/, 5 * 60_000);
        agentServices[WYOMING_SERVICES[kind]] = [{ Address: node.address, Port: port, Tags: ["wyoming", kind] }];
        addRole(node.name, `${kind.toUpperCase()} service`);
      }
      if (p.memory !== false) {
        const node = lab.node(side.nodes.embeddings[0]);
        const port = await freePort();
        const spec = embeddingsJob({ datacenters: ["lab"], nodes: side.nodes.embeddings, binDir, modelPath: models.embeddings });
        const task = run(prepareTask(spec.Job.TaskGroups[0].Tasks[0], { ports: { http: { ip: node.address, port } } }), node);
        await waitHealthy("the embeddings server", `http://${node.address}:${port}/health`, node.ns, 5 * 60_000, task);
        agentServices[EMBEDDINGS_SERVICE] = [{ Address: node.address, Port: port, Tags: ["embeddings", "openai"] }];
        embedUrl = `http://${node.address}:${port}`;
        addRole(node.name, "embeddings");
      }
    } else if (p.memory !== false) {
      const embed = await startLlamaServer({ model: models.embeddings, threads: 1, parallel: 1, ctxSize: 2048, netns: agentNode.ns, wrapper: lab.wrapper(agentNode), extraArgs: ["--embeddings", "--pooling", "mean"], readyTimeoutMs: 5 * 60_000 });
      running.push(embed);
      embedUrl = embed.url;
      addRole(p.agent, "embeddings");
    }
    const agentPort = await freePort();
    const visionPort = await freePort();
    const agentSpec = voiceAgentJob({
      datacenters: ["lab"],
      agentDir,
      nodeBinary: process.execPath,
      tsNodeRegister,
      modelsDir: models.speechDir,
      port: agentPort,
      benchmarkMode: true,
      ttsVoice: "auto",
      sttThreads: 1,
      vision: { source: `video:${models.video}`, memoryMB: 512, cpuMHz: 1000, model: models.yolo },
    });
    const visionTask = prepareTask(taskOf(agentSpec, "voice-agent", "vision"), { ports: { http: { ip: agentNode.address, port: agentPort }, vision: { ip: agentNode.address, port: visionPort } } });
    // A looping video at its own pace stands in for the webcam; the detector's CPU share is
    // "of one core": here one emulated core is half the node's budget.
    visionTask.args.push("--loop", "--realtime");
    visionTask.env.AIDE_VISION_CPU_SHARE = (0.5 * agentNode.budget / 2).toFixed(3);
    run(visionTask, agentNode);
    addRole(p.agent, "vision");
    const agentTask = prepareTask(taskOf(agentSpec, "voice-agent", "agent"), { ports: { http: { ip: agentNode.address, port: agentPort }, vision: { ip: agentNode.address, port: visionPort } }, services: agentServices });
    // The lab's replies are capped (random weights never stop by themselves) at 24 tokens,
    // a two-sentence spoken answer, so 24 turns in three placements fit the run's 25
    // minutes; memory gets the lab's embeddings server on the agent's node.
    agentTask.env.LLM_MAX_TOKENS = String(LAB_REPLY_TOKENS);
    if (p.before) Object.assign(agentTask.env, AGENT_AS_BEFORE);
    agentTask.env.AIDE_MEMORY_DIR = embedUrl ? join(scratch, `${p.name}-memory`) : "off";
    // Before: the lab's own embeddings server (the endpoints template renders the placed one).
    if (embedUrl && p.before) agentTask.env.EMBED_URL = embedUrl;
    mkdirSync(join(scratch, `${p.name}-memory`), { recursive: true });
    const agent = run(agentTask, agentNode);
    addRole(p.agent, p.before ? "voice agent (VAD, STT, TTS)" : "voice agent (VAD)");
    await waitHealthy("the voice agent", `http://${agentNode.address}:${agentPort}/health`, agentNode.ns, 10 * 60_000, agent);
    log(`  voice agent ready on ${p.agent} at http://${agentNode.address}:${agentPort}/`);
    // A household opens the page once `pulumi up` is done, long after the agent started:
    // the conversation begins once the agent has the fixed prompt prefix in the LLM's cache
    // (its /health says so), and how long that took is printed, not hidden.
    if (!p.before) log(`  ${await prefixWarmed(`http://${agentNode.address}:${agentPort}/health`, agentNode.ns)}`);
    return {
      placement: p,
      plan,
      llmNodes: [head, ...workers.map((w) => w.node).filter((w) => w !== head)],
      wsUrl: `ws://${agentNode.address}:${agentPort}/ws`,
      forceToolUrl: `http://${phone.address}:${tapPort}/lab/force-tool?name=describe_scene`,
      tapLog,
      roles,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
