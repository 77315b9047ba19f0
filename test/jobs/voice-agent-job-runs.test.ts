// The voice-agent job's exact command line, run here: the agent starts from it, finds
// the LLM (a real llama-server started from the llamacpp-rpc job's head command) through
// the job's service template, and passes the job's health check. Then the backend is
// switched: the template renders the new endpoint into the running task's file, Nomad's
// SIGHUP reaches the agent, and the same agent process follows the new endpoint.
import { dirname, join } from "node:path";
import { llamaCppRpcJob, voiceAgentJob, VoiceAgentJobArgs } from "../../nomad-jobs";
import { llamaBinary } from "../../scripts/lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { ensureTinySpeechModels } from "../../scripts/models/tiny-speech";
import { freePort } from "../support/ports";
import { rpcArgs } from "./support/fixtures";
import { httpOk, prepareTask, rerenderTemplates, runTask, RunningTask, ServiceRegistry, waitFor } from "./support/nomad-runtime";

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

  it("starts the agent, which finds the LLM through service discovery and passes its health check", async () => {
    const speech = await ensureTinySpeechModels();
    const args: VoiceAgentJobArgs = {
      datacenters: ["dc1"], agentDir: join(REPO, "agent"), nodeBinary: process.execPath,
      tsNodeRegister: require.resolve("ts-node/register/transpile-only"),
      modelsDir: speech.dir, port: await freePort(), benchmarkMode: false, ttsVoice: "espeak", sttThreads: 1,
      // a start threshold below the agent's default stop threshold (0.35) must still start
      vad: { startThreshold: 0.3, minSilenceMs: 500 },
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

    // The backend switch: the service now points at another server, tagged primacpp.
    const llm2 = await startLlm("primacpp");
    const rendered = rerenderTemplates(group.Tasks[0], prepared, llm2);
    expect(rendered["local/llm.env"]).toBe(`LLM_BASE_URL=http://127.0.0.1:${llm2["aide-llm"][0].Port}\nAIDE_LLM_BACKEND=primacpp\n`);
    // the template's change_mode: Nomad signals the running agent
    const template = group.Tasks[0].Templates![0];
    expect([template.ChangeMode, template.ChangeSignal]).toEqual(["signal", "SIGHUP"]);
    const pid = agent.child.pid;
    agent.child.kill(template.ChangeSignal as NodeJS.Signals);
    await waitFor("agent follows the new endpoint", async () => agent.log().includes(`LLM endpoint now http://127.0.0.1:${llm2["aide-llm"][0].Port} (primacpp)`), 10_000, agent);
    // the old backend goes away; the same agent process reports the new one healthy
    await running[0].stop();
    const body2 = await (await fetch(health)).text();
    expect(body2).toContain('"llm":"ok"');
    expect(agent.child.pid).toBe(pid);
    expect(agent.child.exitCode).toBeNull();
  });
});
