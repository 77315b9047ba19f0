// The speech services' jobs, their exact command lines run here as a Nomad client would
// start them: the embeddings llama-server answers /v1/embeddings on the port Nomad gave
// it; the Wyoming tasks start the agent's serve.ts with the contract's CLI (stt|tts,
// --host, --port) and the speech settings the agent itself gets. The Wyoming server is
// written on its own branch: a stand-in with the contract's CLI takes its place here, so
// what is pinned is the command line and environment the job gives it.
import { connect } from "node:net";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { embeddingsJob, voiceAgentJob, wyomingServiceJob, EMBEDDINGS_SERVICE, STT_SERVICE, TTS_SERVICE } from "../../nomad-jobs";
import { llamaBinary } from "../../lib/llama";
import { ensureTinyEmbeddingModel } from "../../scripts/models/tiny";
import { freePort } from "../support/ports";
import { agentArgs, embeddingsArgs, wyomingArgs } from "./support/fixtures";
import { httpOk, prepareTask, runTask, RunningTask, waitFor } from "./support/nomad-runtime";

/** agent/src/wyoming/serve.ts's contract as a stand-in: parses `stt|tts --host H --port P`
 * strictly (anything else exits 2, naming it), prints what it got, and listens. */
const SERVE_STAND_IN = `
import { createServer } from "node:net";
const [kind, ...rest] = process.argv.slice(2);
const flags: Record<string, string> = {};
for (let i = 0; i < rest.length; i += 2) {
  if (rest[i] !== "--host" && rest[i] !== "--port") { console.error("unknown argument " + rest[i]); process.exit(2); }
  flags[rest[i].slice(2)] = rest[i + 1];
}
if ((kind !== "stt" && kind !== "tts") || !flags.host || !/^\\d+$/.test(flags.port ?? "")) {
  console.error("usage: serve.ts stt|tts --host H --port P"); process.exit(2);
}
const env = Object.fromEntries(["AIDE_MODELS_DIR", "STT_THREADS", "AIDE_TTS_VOICE", "TS_NODE_COMPILER_OPTIONS"].map((k) => [k, process.env[k]]));
createServer((s) => s.end()).listen(Number(flags.port), flags.host, () => console.log("SERVING " + JSON.stringify({ kind, ...flags, env })));
`;

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = connect({ host, port });
    s.once("connect", () => { s.destroy(); ok(true); });
    s.once("error", () => ok(false));
  });
}

describe("speech services' jobs, commands run for real", () => {
  const running: RunningTask[] = [];
  afterAll(async () => { await Promise.all(running.map((t) => t.stop())); });

  it.each(["stt", "tts"] as const)("starts serve.ts %s on the node's address and the port Nomad gave, with the agent's speech settings", async (kind) => {
    const agentDir = mkdtempSync(join(tmpdir(), "aide-agent-"));
    mkdirSync(join(agentDir, "src", "wyoming"), { recursive: true });
    writeFileSync(join(agentDir, "src", "wyoming", "serve.ts"), SERVE_STAND_IN);
    const runtime = { agentDir, nodeBinary: process.execPath, tsNodeRegister: require.resolve("ts-node/register/transpile-only"), modelsDir: "/var/lib/aide/models" };
    const spec = wyomingServiceJob(wyomingArgs({ ...runtime, kind, sttThreads: 2, ttsVoice: "espeak" }));
    const group = spec.Job.TaskGroups[0];
    const task = group.Tasks[0];
    // the service the agent's template asks for, with the check Nomad runs on the same port
    const service = task.Services![0];
    expect(service).toMatchObject({ Name: kind === "stt" ? STT_SERVICE : TTS_SERVICE, PortLabel: "wyoming", Provider: "nomad" });
    expect(service.Checks).toEqual([expect.objectContaining({ Type: "tcp" })]);
    expect(group.Networks).toEqual([{ DynamicPorts: [{ Label: "wyoming" }] }]);

    const port = await freePort();
    const t = runTask(prepareTask(task, { ports: { wyoming: { ip: "127.0.0.1", port } } }));
    running.push(t);
    await waitFor(`${kind} service serving`, async () => t.stdout().includes("SERVING"), 60_000, t);
    const got = JSON.parse(t.stdout().split("SERVING ")[1].split("\n")[0]);
    // the same speech settings the voice agent's own task gets: one home for both
    const agentEnv = voiceAgentJob(agentArgs({ ...runtime, sttThreads: 2, ttsVoice: "espeak" })).Job.TaskGroups[0].Tasks[0].Env!;
    expect(got).toEqual({
      kind, host: "127.0.0.1", port: String(port),
      env: { AIDE_MODELS_DIR: agentEnv.AIDE_MODELS_DIR, STT_THREADS: "2", AIDE_TTS_VOICE: "espeak", TS_NODE_COMPILER_OPTIONS: agentEnv.TS_NODE_COMPILER_OPTIONS },
    });
    expect(await tcpOpen("127.0.0.1", port)).toBe(true);
  }, 90_000);

  it("starts the embeddings llama-server, which answers /health and /v1/embeddings on the port Nomad gave it", async () => {
    const model = await ensureTinyEmbeddingModel();
    const spec = embeddingsJob(embeddingsArgs({ binDir: dirname(llamaBinary("llama-server")), modelPath: model }));
    const task = spec.Job.TaskGroups[0].Tasks[0];
    expect(task.Services![0]).toMatchObject({ Name: EMBEDDINGS_SERVICE, PortLabel: "http" });
    const check = task.Services![0].Checks![0];
    const port = await freePort();
    const t = runTask(prepareTask(task, { ports: { http: { ip: "127.0.0.1", port } } }));
    running.push(t);
    await waitFor("embeddings server healthy", () => httpOk(`http://127.0.0.1:${port}${check.Path}`), 60_000, t);
    const res = await fetch(`http://127.0.0.1:${port}/v1/embeddings`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: ["the user's sister is called Ada", "hello"] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Array<{ embedding: number[] }> };
    expect(body.data).toHaveLength(2);
    expect(body.data[0].embedding.length).toBeGreaterThan(0);
    expect(body.data[0].embedding).not.toEqual(body.data[1].embedding);
  }, 90_000);

  it("runs each service on its planned node while that is up, and lets it move to the others", () => {
    for (const spec of [wyomingServiceJob(wyomingArgs({ nodes: ["aide-03", "aide-01"] })), embeddingsJob(embeddingsArgs({ nodes: ["aide-03", "aide-01"] }))]) {
      const group = spec.Job.TaskGroups[0];
      expect(group.Constraints).toEqual([{ LTarget: "${node.unique.name}", Operand: "set_contains_any", RTarget: "aide-03,aide-01" }]);
      expect(group.Affinities).toEqual([{ LTarget: "${node.unique.name}", Operand: "=", RTarget: "aide-03", Weight: 100 }]);
    }
    const alone = embeddingsJob(embeddingsArgs({ nodes: ["aide-01"] })).Job.TaskGroups[0];
    expect(alone.Constraints).toEqual([{ LTarget: "${node.unique.name}", Operand: "=", RTarget: "aide-01" }]);
    expect(alone.Affinities).toBeUndefined();
  });

  it("refuses what would break the job: no node, a node name that could inject, a relative path, an unknown kind", () => {
    expect(() => embeddingsJob(embeddingsArgs({ nodes: [] }))).toThrow("a group needs at least one node to run on");
    expect(() => wyomingServiceJob(wyomingArgs({ nodes: ['aide-01" }}{{ env "NOMAD_TOKEN'] }))).toThrow(/node name 'aide-01" }}.*is not usable as a Nomad name/);
    expect(() => embeddingsJob(embeddingsArgs({ modelPath: "embedding/x.gguf" }))).toThrow("embeddings model path must be an absolute path on the node, got 'embedding/x.gguf'");
    expect(() => wyomingServiceJob(wyomingArgs({ kind: "vad" as never }))).toThrow("Wyoming service kind must be stt or tts, got 'vad'");
  });
});
