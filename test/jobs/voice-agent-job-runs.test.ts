// The voice-agent job's exact command line, run here: the agent starts from it, finds
// the LLM (a real llama-server started from the llamacpp-rpc job's head command) through
// the job's service template, and passes the job's health check. Then the backend is
// switched: the template renders the new endpoint into the running task's file, Nomad's
// SIGHUP reaches the agent, and the same agent process follows the new endpoint — and the
// embeddings server (its own job) appearing turns long-term memory on without a restart.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { embeddingsJob, llamaCppRpcJob, voiceAgentJob, VoiceAgentJobArgs, EMBEDDINGS_SERVICE, STT_SERVICE, TTS_SERVICE } from "../../nomad-jobs";
import { llamaBinary } from "../../lib/llama";
import { ensureTinyChatModel, ensureTinyEmbeddingModel } from "../../scripts/models/tiny";
import { ensureTinySpeechModels } from "../../scripts/models/tiny-speech";
import { freePort } from "../support/ports";
import { agentArgs, embeddingsArgs, rpcArgs } from "./support/fixtures";
import { httpOk, prepareTask, renderTemplate, rerenderTemplates, runTask, RunningTask, ServiceRegistry, waitFor } from "./support/nomad-runtime";

const REPO = join(__dirname, "..", "..");

describe("voice-agent job, command run for real", () => {
  const running: RunningTask[] = [];
  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop()));
  });

  /** The single-node llamacpp-rpc job's head, started from its own command line. */
  async function startLlm(tag: string): Promise<ServiceRegistry> {
    const head = llamaCppRpcJob(rpcArgs({
      binDir: dirname(llamaBinary("llama-server")), modelPath: await ensureTinyChatModel(), modelAlias: "aide-tiny", contextSize: 512,
      head: { node: "aide-01", threads: 1, memoryMB: 200, cpuMHz: 1000 }, workers: [], offloadedLayers: 0,
    })).Job.TaskGroups[0];
    const port = await freePort();
    const task = runTask(prepareTask(head.Tasks[0], { ports: { http: { ip: "127.0.0.1", port } } }));
    running.push(task);
    await waitFor("llama-server healthy", () => httpOk(`http://127.0.0.1:${port}/health`), 60_000, task);
    // registered as the job registers it; the tag is what tells the backends apart
    return { [head.Tasks[0].Services![0].Name]: [{ Address: "127.0.0.1", Port: port, Tags: [tag, "openai"] }] };
  }

  /** The embeddings job's llama-server, started from its own command line. */
  async function startEmbeddings(): Promise<ServiceRegistry> {
    const task = embeddingsJob(embeddingsArgs({ binDir: dirname(llamaBinary("llama-server")), modelPath: await ensureTinyEmbeddingModel() })).Job.TaskGroups[0].Tasks[0];
    const port = await freePort();
    const t = runTask(prepareTask(task, { ports: { http: { ip: "127.0.0.1", port } } }));
    running.push(t);
    await waitFor("embeddings server healthy", () => httpOk(`http://127.0.0.1:${port}/health`), 60_000, t);
    return { [EMBEDDINGS_SERVICE]: [{ Address: "127.0.0.1", Port: port, Tags: ["embeddings", "openai"] }] };
  }

  it("renders every service of a turn into the agent's endpoints file, and leaves out one not registered", () => {
    const template = voiceAgentJob(agentArgs()).Job.TaskGroups[0].Tasks[0].Templates![0];
    const at = (Address: string, Port: number, Tags: string[] = []) => [{ Address, Port, Tags }];
    const all: ServiceRegistry = {
      "aide-llm": at("192.168.1.102", 23001, ["llamacpp-rpc", "openai"]),
      [STT_SERVICE]: [...at("192.168.1.103", 23002), ...at("192.168.1.101", 29999)], // an old allocation still registered: the first wins
      [TTS_SERVICE]: at("192.168.1.101", 23003),
      [EMBEDDINGS_SERVICE]: at("192.168.1.103", 23004),
    };
    expect(renderTemplate(template.EmbeddedTmpl, all)).toBe(
      "LLM_BASE_URL=http://192.168.1.102:23001\nAIDE_LLM_BACKEND=llamacpp\n" +
      "AIDE_STT_URL=tcp://192.168.1.103:23002\nAIDE_TTS_URL=tcp://192.168.1.101:23003\nEMBED_URL=http://192.168.1.103:23004\n",
    );
    const { [TTS_SERVICE]: _gone, ...withoutTts } = all;
    expect(renderTemplate(template.EmbeddedTmpl, withoutTts)).not.toContain("AIDE_TTS_URL");
    expect(renderTemplate(template.EmbeddedTmpl, withoutTts)).toContain("AIDE_STT_URL=tcp://192.168.1.103:23002\n");
    // what the agent re-reads, and how it is told
    const env = voiceAgentJob(agentArgs()).Job.TaskGroups[0].Tasks[0].Env!;
    expect(env.AIDE_ENDPOINTS_FILE).toBe("${NOMAD_TASK_DIR}/endpoints.env");
    expect(template).toMatchObject({ DestPath: "local/endpoints.env", Envvars: true, ChangeMode: "signal", ChangeSignal: "SIGHUP" });
  });

  it("starts the agent, which finds the LLM through service discovery and passes its health check", async () => {
    const speech = await ensureTinySpeechModels();
    const args: VoiceAgentJobArgs = {
      datacenters: ["dc1"], agentDir: join(REPO, "agent"), nodeBinary: process.execPath,
      tsNodeRegister: require.resolve("ts-node/register/transpile-only"),
      modelsDir: speech.dir, port: await freePort(), benchmarkMode: false, ttsVoice: "espeak", sttThreads: 1,
      // a start threshold below the agent's default stop threshold (0.35) must still start
      vad: { startThreshold: 0.3, minSilenceMs: 500 },
      memoryDir: mkdtempSync(join(tmpdir(), "aide-memory-")),
    };
    const group = voiceAgentJob(args).Job.TaskGroups[0];
    const check = group.Tasks[0].Services![0].Checks![0];

    const llm1 = await startLlm("llamacpp-rpc");
    const prepared = prepareTask(group.Tasks[0], { ports: { http: { ip: "127.0.0.1", port: args.port } }, services: llm1 });
    expect(prepared.env).toMatchObject({ LLM_BASE_URL: `http://127.0.0.1:${llm1["aide-llm"][0].Port}`, AIDE_LLM_BACKEND: "llamacpp" });
    const agent = runTask(prepared);
    running.push(agent);
    const health = `http://127.0.0.1:${args.port}${check.Path}`;
    await waitFor("agent healthy", () => httpOk(health), 120_000, agent);
    const body1 = await (await fetch(health)).text();
    expect(body1).toContain('"llm":"ok"');
    // no embeddings server registered yet: the agent talks without long-term memory
    expect(agent.log()).toContain("long-term memory off — no embeddings server");

    // The backend switch: the service now points at another server, tagged primacpp.
    // and the embeddings server's job has placed it: both reach the agent in one rewrite
    const llm2 = await startLlm("primacpp");
    const embeddings = await startEmbeddings();
    const rendered = rerenderTemplates(group.Tasks[0], prepared, { ...llm2, ...embeddings });
    const embedUrl = `http://127.0.0.1:${embeddings[EMBEDDINGS_SERVICE][0].Port}`;
    expect(rendered["local/endpoints.env"]).toBe(`LLM_BASE_URL=http://127.0.0.1:${llm2["aide-llm"][0].Port}\nAIDE_LLM_BACKEND=primacpp\nEMBED_URL=${embedUrl}\n`);
    // the template's change_mode: Nomad signals the running agent
    const template = group.Tasks[0].Templates![0];
    expect([template.ChangeMode, template.ChangeSignal]).toEqual(["signal", "SIGHUP"]);
    const pid = agent.child.pid;
    agent.child.kill(template.ChangeSignal as NodeJS.Signals);
    await waitFor("agent follows the new endpoint", async () => agent.log().includes(`endpoints re-read: LLM http://127.0.0.1:${llm2["aide-llm"][0].Port} (primacpp), embeddings ${embedUrl}`), 10_000, agent);
    await waitFor("long-term memory opens on the embeddings server", async () => agent.log().includes(`embeddings from ${embedUrl}`), 30_000, agent);
    expect(agent.log()).toContain(`memory: long-term memory in ${args.memoryDir}`);
    // the old backend goes away; the same agent process reports the new one healthy
    await running[0].stop();
    const body2 = await (await fetch(health)).text();
    expect(body2).toContain('"llm":"ok"');
    expect(agent.child.pid).toBe(pid);
    expect(agent.child.exitCode).toBeNull();
  });
});
