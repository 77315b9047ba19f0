// The Pulumi program (infra/index.ts → infra/jobs.ts) under Pulumi's mocks: it registers
// the LLM, the voice agent, its speech services and the benchmark as NomadJob resources
// once the cluster is ready, from a layer plan for the nodes' facts, and a backend switch
// changes exactly the LLM's jobs (and stops the embeddings server, which needs llama.cpp).
// @slow: the Pulumi program under mocks, several stacks (about 13 s alone)
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchJobSpec, llmJobSpec, modelAlias, planWithSpeechServices } from "../../infra/jobs";
import { planLayers } from "../../infra/planner";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { coreTwoFacts, ProgramRun, Registered, runProgram } from "../infra/program";
import { GOSSIP, SHA, validStack } from "../infra/stack-fixture";
import { nomadSchemaErrors } from "./support/openapi";

const secrets = { sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nK\n-----END OPENSSH PRIVATE KEY-----", nomadGossipKey: GOSSIP };
const JOBS = ["aide-llm", "aide-voice-agent", "aide-llama-bench", "aide-stt", "aide-tts", "aide-embeddings"];
const jobs = (run: ProgramRun): Record<string, Registered> =>
  Object.fromEntries(run.resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource").map((r) => [r.name, r]));
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const PRIMA = { backend: "primacpp", primacpp: { source: { sha256: SHA } } };

describe("the program's Nomad jobs under Pulumi mocks", () => {
  const savedCache = process.env.AIDE_CACHE;
  let llama: ProgramRun;
  let prima: ProgramRun;
  let errors: string[];
  const errorSpy = jest.spyOn(console, "error");

  beforeAll(async () => {
    // The stack's model (tiny.gguf in the fixture) as a local copy the planner reads.
    const cache = mkdtempSync(join(tmpdir(), "aide-cache-"));
    mkdirSync(join(cache, "models"));
    copyFileSync(await ensureTinyChatModel(), join(cache, "models", "tiny.gguf"));
    process.env.AIDE_CACHE = cache;
    llama = await runProgram(validStack(3), secrets);
    prima = await runProgram(validStack(3, PRIMA), secrets);
  });
  beforeEach(() => { errors = []; errorSpy.mockImplementation((...a: unknown[]) => { errors.push(a.join(" ")); }); });
  afterAll(() => {
    process.env.AIDE_CACHE = savedCache;
    errorSpy.mockRestore();
  });

  it("registers the LLM, the voice agent, its speech services and the benchmark, each after the cluster is ready", () => {
    expect(llama.error).toBeUndefined();
    const j = jobs(llama);
    expect(Object.keys(j).sort()).toEqual([...JOBS].sort());
    for (const name of JOBS) {
      expect(llama.dependsOn.get(name)).toContain("aide-01-nomad-ready");
      expect(j[name].inputs.connection).toEqual({ address: "http://192.168.1.101:4646" });
      // what NomadJob will send is a job Nomad's API accepts, strictly
      expect(nomadSchemaErrors("JobRegisterRequest", j[name].inputs.spec)).toEqual([]);
    }
    expect(j["aide-llama-bench"].inputs.wait).toBe("registered");
    for (const name of ["aide-llm", "aide-stt", "aide-tts", "aide-embeddings"]) expect(j[name].inputs.wait).toBe("healthy");
  });

  it("sends the stack's Nomad ACL token with every job, and keeps it secret", async () => {
    const run = await runProgram(validStack(3), { ...secrets, nomadToken: "acl-token-1234" } as typeof secrets);
    for (const job of Object.values(jobs(run))) {
      const conn = job.inputs.connection;
      expect(conn[SECRET_SIG]).toBeDefined(); // a Pulumi secret on the wire
      expect(conn.value).toEqual({ address: "http://192.168.1.101:4646", token: "acl-token-1234" });
    }
  });

  it("exports each job's JSON as registered, for `nomad job run -json` by hand", () => {
    const specs = llama.outputs.jobSpecs as Record<string, unknown>;
    const j = jobs(llama);
    expect(specs).toEqual({
      llm: j["aide-llm"].inputs.spec, agent: j["aide-voice-agent"].inputs.spec, bench: j["aide-llama-bench"].inputs.spec,
      stt: j["aide-stt"].inputs.spec, tts: j["aide-tts"].inputs.spec, embeddings: j["aide-embeddings"].inputs.spec,
    });
  });

  it("plans the tiny model onto one node that is not the agent's, and exports the plan", () => {
    const plan = llama.outputs.layerPlan as { mode: string; head: string; explanation: string[] };
    expect(plan).toMatchObject({ mode: "single", head: "aide-02" });
    expect(plan.explanation.join("\n")).toContain("runs on aide-02 alone");
    const llm = jobs(llama)["aide-llm"].inputs.spec.Job;
    expect(llm.TaskGroups.map((g: { Name: string }) => g.Name)).toEqual(["head"]);
    expect(llm.TaskGroups[0].Constraints[0].RTarget.split(",")[0]).toBe("aide-02");
    expect(llm.TaskGroups[0].Tasks[0].Config.args).toEqual(expect.arrayContaining(["-m", "/var/lib/aide/models/tiny.gguf", "-t", "2"]));
  });

  it("places STT, TTS and the embeddings server away from the LLM's node, and exports where and why", () => {
    const placement = llama.outputs.servicePlacement as { nodes: Record<string, string[]>; explanation: string[] };
    // the seed's 3 nodes: the agent on aide-01, the LLM alone on aide-02
    expect(placement.nodes).toEqual({ stt: ["aide-03", "aide-01"], tts: ["aide-03", "aide-01"], embeddings: ["aide-03", "aide-01"] });
    expect(placement.explanation[0]).toMatch(/^speech services: STT on aide-03, TTS on aide-03, embeddings on aide-03 — away from the LLM on aide-02.*, and off the agent's node aide-01/);
    const j = jobs(llama);
    for (const [name, node] of [["aide-stt", "aide-03"], ["aide-tts", "aide-03"], ["aide-embeddings", "aide-03"]]) {
      const group = j[name].inputs.spec.Job.TaskGroups[0];
      expect(group.Affinities).toEqual([{ LTarget: "${node.unique.name}", Operand: "=", RTarget: node, Weight: 100 }]);
      expect(group.Constraints[0].RTarget.split(",")).not.toContain("aide-02");
    }
    // the agent's and the services' speech settings are one
    const agentEnv = j["aide-voice-agent"].inputs.spec.Job.TaskGroups[0].Tasks[0].Env;
    const sttTask = j["aide-stt"].inputs.spec.Job.TaskGroups[0].Tasks[0];
    for (const key of ["AIDE_MODELS_DIR", "STT_THREADS", "AIDE_TTS_VOICE", "TS_NODE_COMPILER_OPTIONS"]) expect(sttTask.Env[key]).toBe(agentEnv[key]);
    // the stack's recognizer and VAD settings reach the agent (and the recognizer its service), with the agent's defaults
    expect(sttTask.Env.AIDE_STT_MODEL).toBe("moonshine-tiny");
    expect(agentEnv).toMatchObject({ AIDE_STT_MODEL: "moonshine-tiny", VAD_START_THRESHOLD: "0.5", VAD_MIN_SILENCE_MS: "600", VAD_SPEECH_PAD_MS: "300" });
    expect(agentEnv.VAD_STOP_THRESHOLD).toBeUndefined();
    expect(sttTask.Config.args).toEqual(["/opt/aide/agent/dist/wyoming/serve.js", "stt", "--host", "${NOMAD_IP_wyoming}", "--port", "${NOMAD_PORT_wyoming}"]);
    // the embeddings server reads the model the distribution put on every node
    const embedArgs: string[] = j["aide-embeddings"].inputs.spec.Job.TaskGroups[0].Tasks[0].Config.args;
    expect(embedArgs[embedArgs.indexOf("-m") + 1]).toBe("/var/lib/aide/models/embedding/all-minilm-l6-v2-q4_k_m.gguf");
  });

  it("keeps room for the speech services on the node the LLM would move to, and says so when that leaves it none", () => {
    const GiB = 2 ** 30;
    // 5.6 GiB needed: each 7.9 GB node has 6.21 GiB free, but aide-03 only 4.71 GiB beside STT, TTS and embeddings (1536 MiB)
    const model = { name: "m", architecture: "llama", layerCount: 20, layerBytes: Array(20).fill(0.255 * GiB), otherBytes: 0, kvBytesPerToken: 0 };
    const nodes = ["aide-01", "aide-02", "aide-03"].map((name, i) => ({ name, address: `192.168.1.10${i + 1}`, memoryBytes: 7900 * 2 ** 20, cores: 2, cpuMHz: 3000 }));
    const options = { backend: "llamacpp-rpc" as const, contextSize: 4096, parallel: 1, headroomBytes: 1.5 * GiB, reservedBytes: { "aide-01": 1536 * 2 ** 20 }, avoid: ["aide-01"] };
    expect(planLayers(model, nodes, options).standby!.map((s) => s.node)).toEqual(["aide-03"]); // blind to the services
    const planned = planWithSpeechServices(model, nodes, options, "aide-01");
    expect([planned.plan.mode, planned.plan.head, planned.plan.standby]).toEqual(["single", "aide-02", []]);
    expect(planned.plan.explanation.join("\n")).toContain("no other node has 5.60 GiB free: if aide-02 goes down the assistant is mute");
    expect(planned.options.reservedBytes).toEqual({ "aide-01": 1536 * 2 ** 20, "aide-03": (640 + 640 + 256) * 2 ** 20 });
    expect(planned.placement.nodes.stt[0]).toBe("aide-03");
  });

  it("lets the LLM move to another node that holds the model and has room when its desktop dies, preferring its own", () => {
    const plan = llama.outputs.layerPlan as { head: string; standby: Array<{ node: string }>; explanation: string[] };
    expect(plan.standby.map((s) => s.node)).toEqual(["aide-03"]); // not the agent's node while another has room
    expect(plan.explanation.join("\n")).toContain("if aide-02 goes down, Nomad moves the LLM to aide-03 (every node holds the model file; it has the room)");
    const head = jobs(llama)["aide-llm"].inputs.spec.Job.TaskGroups[0];
    expect(head.Constraints).toEqual([{ LTarget: "${node.unique.name}", Operand: "set_contains_any", RTarget: "aide-02,aide-03" }]);
    expect(head.Affinities).toEqual([{ LTarget: "${node.unique.name}", Operand: "=", RTarget: "aide-02", Weight: 100 }]);
  });

  it("bounds llama-server's prompt cache by what the plan leaves free on the head, and reserves it", () => {
    const plan = llama.outputs.layerPlan as { shares: Array<{ node: string; memoryBytes: number; freeBytes: number }> };
    const head = plan.shares[0];
    const task = jobs(llama)["aide-llm"].inputs.spec.Job.TaskGroups[0].Tasks[0];
    const args: string[] = task.Config.args;
    const cacheRam = Number(args[args.indexOf("--cache-ram") + 1]);
    // tiny model on a 7.9 GB node: room to spare, so the cap (llama-server's default is 8192 MiB)
    expect(cacheRam).toBe(1024);
    // History's dropped turn shifts the cached ones (not re-evaluated); the agent's saved prefix lives in the alloc dir.
    expect(args[args.indexOf("--cache-reuse") + 1]).toBe("16");
    expect(args[args.indexOf("--slot-save-path") + 1]).toBe("${NOMAD_ALLOC_DIR}/data");
    // Flash attention off: without F16C it is the slower path once a conversation is cached (bench:llm).
    expect(args[args.indexOf("--flash-attn") + 1]).toBe("off");
    // The K/V cache in f32 (the same missing F16C), and the plan counts it: twice the f16 bytes.
    expect(args[args.indexOf("--cache-type-k") + 1]).toBe("f32");
    expect(args[args.indexOf("--cache-type-v") + 1]).toBe("f32");
    expect((llama.outputs.layerPlan as { explanation: string[] }).explanation[0]).toMatch(/KV cache \(f32\)/);
    expect(task.Resources.MemoryMB).toBe(Math.ceil(head.memoryBytes / 2 ** 20) + 1024);
    // a head with 300 MiB to spare gets a 300 MiB cache, and one with none gets none
    const config = { backend: "llamacpp-rpc", nomad: { datacenter: "dc1" }, model: { name: "big.gguf" } } as never;
    const facts = { "aide-02": coreTwoFacts("aide-02") };
    for (const [spare, expected] of [[300, 300], [-50, 0]]) {
      const share = { node: "aide-02", address: "10.0.0.2", layers: 20, memoryBytes: 5 * 2 ** 30, freeBytes: 5 * 2 ** 30 + spare * 2 ** 20, threads: 2 };
      const spec = llmJobSpec(config, { mode: "single", head: "aide-02", kvCacheType: "f16", explanation: [], shares: [share] }, facts);
      const t = spec.Job.TaskGroups[0].Tasks[0];
      const a: string[] = (t.Config as { args: string[] }).args;
      expect(Number(a[a.indexOf("--cache-ram") + 1])).toBe(expected);
      expect(t.Resources.MemoryMB).toBe(5 * 1024 + expected);
    }
  });

  it("switching the backend changes exactly the LLM's jobs, and the LLM job is updated, not replaced", () => {
    const a = jobs(llama);
    const b = jobs(prima);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const same of ["aide-voice-agent", "aide-stt", "aide-tts"]) expect(b[same].inputs.spec).toEqual(a[same].inputs.spec);
    // the embeddings server is llama.cpp's llama-server: with prima.cpp on the nodes it is registered stopped
    expect(a["aide-embeddings"].inputs.spec.Job.Stop).toBeUndefined();
    expect(b["aide-embeddings"].inputs.spec.Job.Stop).toBe(true);
    expect(b["aide-embeddings"].inputs.wait).toBe("registered");
    expect(b["aide-llm"].inputs.spec.Job.ID).toBe(a["aide-llm"].inputs.spec.Job.ID);
    expect([a["aide-llm"].inputs.spec.Job.Meta.backend, b["aide-llm"].inputs.spec.Job.Meta.backend]).toEqual(["llamacpp-rpc", "primacpp"]);
    expect(b["aide-llm"].inputs.spec.Job.TaskGroups.map((g: { Name: string }) => g.Name)).toEqual(["rank-0"]);
    // prima.cpp's build has no llama-bench: the benchmark stays registered, stopped
    expect(a["aide-llama-bench"].inputs.spec.Job.Stop).toBeUndefined();
    expect(b["aide-llama-bench"].inputs.spec.Job.Stop).toBe(true);
  });

  it("registers the benchmark stopped, saying how to run it, when a worker has no room for a second copy", () => {
    const config = { backend: "llamacpp-rpc", nomad: { datacenter: "dc1" }, model: { name: "big.gguf" } } as never;
    const share = (node: string, layers: number, gib: number) => ({ node, address: "10.0.0.1", layers, memoryBytes: gib * 2 ** 30, freeBytes: 6.2 * 2 ** 30, threads: 2 });
    const plan = { mode: "split" as const, head: "aide-02", kvCacheType: "f16" as const, explanation: [], shares: [share("aide-02", 20, 5), share("aide-03", 20, 5)] };
    const facts = { "aide-02": coreTwoFacts("aide-02"), "aide-03": coreTwoFacts("aide-03") };
    const crowded = benchJobSpec(config, plan, facts);
    expect(crowded.spec.Job.Stop).toBe(true);
    // why: the run loads a copy into the bench's own worker, because llama-server holds the serving one
    expect(crowded.why).toMatch(
      /^llama-bench: registered stopped — aide-03 cannot hold a second copy of its layers beside the running server \(a run loads one into the bench's own RPC worker there, since a ggml-rpc-server serves one client at a time and llama-server holds the serving one\)/,
    );
    // how: free the serving copy (the head lets go of its workers), not the whole job, whose workers the bench needs
    expect(crowded.why).toMatch(/to measure, free the serving copy while it runs: nomad job scale aide-llm head 0, run aide-llama-bench \(nomad job run -json with Stop removed\), npm run bench:results, then nomad job scale aide-llm head 1$/);
    const roomy = benchJobSpec(config, { ...plan, shares: [share("aide-02", 20, 2), share("aide-03", 20, 2)] }, facts);
    expect(roomy.spec.Job.Stop).toBeUndefined();
    expect(roomy.why).toBe(
      "llama-bench: on aide-02 with its own RPC worker on aide-03 (aide-rpc-bench-<node>, idle beside the serving one until a run loads its copy of the layers); results: npm run bench:results",
    );
    // its --rpc list is the bench workers' services, never the serving ones llama-server holds
    const template = roomy.spec.Job.TaskGroups[0].Tasks.find((t) => !t.Lifecycle)!.Templates![0].EmbeddedTmpl;
    expect(template).toContain('nomadService "aide-rpc-bench-aide-03"');
    expect(template).not.toContain("aide-llm-rpc-");
  });

  it("names the model for Nomad in letters, digits and dashes only", () => {
    expect(modelAlias("Qwen2.5-1.5B-Instruct-Q4_0.gguf")).toBe("qwen2-5-1-5b-instruct-q4-0");
    expect(modelAlias(`${"a".repeat(62)}_b.gguf`)).toMatch(/^a+$/); // cut at 63, never ending in a dash
  });

  it("fails with the numbers when the model fits on no node, and still registers the rest", async () => {
    const run = await runProgram(validStack(3), secrets, (n) => coreTwoFacts(n, { ramMb: 1600 }));
    expect(errors.join("\n")).toMatch(/layer plan: model aide-tiny-chat does not fit in the cluster's RAM: it needs 0\.50 GiB .*aide-01 0\.00 GiB, aide-02 0\.06 GiB, aide-03 0\.06 GiB/);
    expect(run.outputs.layerPlan).toBeUndefined();
    expect(jobs(run)["aide-voice-agent"]).toBeDefined();
    // speech and memory do not wait for the LLM: placed with no node known to run it
    expect((run.outputs.servicePlacement as { nodes: Record<string, string[]> }).nodes.stt[0]).toBe("aide-02");
    expect(jobs(run)["aide-embeddings"].inputs.spec.Job.TaskGroups[0].Affinities[0].RTarget).toBe("aide-02");
  });
});
