// The llamacpp-rpc job's command lines on three hosts (network namespaces with their
// own addresses): each worker binds only its host's cluster address (the RPC protocol
// has no authentication), and the head on another host serves a completion through them
// while the llama-bench job on the head's host runs over the bench workers.
// @needs netns
import { tmpdir } from "node:os";
import { dirname } from "node:path";
import { llamaCppSplit, LayerPlan } from "../../infra/planner";
import { llamaBenchJob, llamaCppRpcJob } from "../../nomad-jobs";
import { BENCH_RPC_PORT } from "../../nomad-jobs/llamacpp-rpc";
import { parseBenchOutput } from "../../scripts/bench-results";
import { canConnectIn, llamaBinary } from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { createNetnsHosts, NetnsLab } from "../support/netns";
import { mainTask, rpcArgs } from "./support/fixtures";
import { prepareTask, runTask, RunningTask, ServiceRegistry, waitFor } from "./support/nomad-runtime";

describe("llamacpp-rpc job across hosts", () => {
  let lab: NetnsLab;
  const running: RunningTask[] = [];
  beforeAll(async () => {
    lab = await createNetnsHosts(3, { prefix: "jobs5" });
  });
  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop()));
    await lab?.teardown();
  });

  it("binds each worker, serving and bench, to its host's address only; the head on another host serves through them while the bench job runs over the bench workers", async () => {
    const [h1, h2, h3] = lab.hosts;
    const plan: LayerPlan = {
      mode: "split", head: "aide-01", kvCacheType: "f32", explanation: [],
      shares: [[h1, 2], [h2, 1], [h3, 1]].map(([h, layers], i) => ({
        node: `aide-0${i + 1}`, address: (h as typeof h1).address, layers: layers as number, memoryBytes: 2 ** 28, freeBytes: 2 ** 30, threads: 1,
      })),
    };
    const split = llamaCppSplit(plan);
    const job = llamaCppRpcJob(rpcArgs({
      binDir: dirname(llamaBinary("llama-server")), modelPath: await ensureTinyChatModel(), modelAlias: "aide-tiny", contextSize: 512,
      head: { node: "aide-01", threads: 1, memoryMB: 256, cpuMHz: 1000 },
      workers: split.workers.map((w, i) => ({ node: w.node, threads: 1, memoryMB: 256, cpuMHz: 1000, share: split.tensorSplit[i] })),
      offloadedLayers: split.offloadedLayers,
      rpcCacheDir: `${tmpdir()}/aide-rpc-cache-netns`,
    })).Job;

    const services: ServiceRegistry = {};
    // each host has its own port space; Nomad would pick any free one
    const port = 24500;
    const ports: Record<string, number> = { rpc: port, [BENCH_RPC_PORT]: 24501 };
    for (const [i, host] of [h2, h3].entries()) {
      const g = job.TaskGroups[i];
      // both workers of the group: the serving one and the bench's own
      for (const t of g.Tasks) {
        const p = ports[t.Services![0].PortLabel];
        const task = runTask(prepareTask(t, { ports: { rpc: { ip: host.address, port }, [BENCH_RPC_PORT]: { ip: host.address, port: ports[BENCH_RPC_PORT] } } }), { netns: host.ns });
        running.push(task);
        await waitFor(`${g.Name}/${t.Name} listening on ${host.address}`, () => canConnectIn(h1.ns, host.address, p), 30_000, task);
        // bound to the cluster address only: not even its own loopback answers
        expect(await canConnectIn(host.ns, "127.0.0.1", p)).toBe(false);
        services[t.Services![0].Name] = [{ Address: host.address, Port: p, Tags: [] }];
      }
    }

    const head = job.TaskGroups.find((g) => g.Name === "head")!;
    const server = runTask(prepareTask(mainTask(head), { ports: { http: { ip: h1.address, port: 28080 } }, services }), { netns: h1.ns });
    running.push(server);
    const url = `http://${h1.address}:28080`;
    await waitFor("head healthy", async () => {
      await lab.exec(h1, ["curl", "-sf", "-m", "2", "-o", "/dev/null", `${url}/health`]);
      return true;
    }, 90_000, server);
    const { stdout } = await lab.exec(h1, ["curl", "-sf", "-m", "60", "-H", "content-type: application/json", "-d",
      JSON.stringify({ messages: [{ role: "user", content: "hello" }], max_tokens: 8 }), `${url}/v1/chat/completions`]);
    expect(JSON.parse(stdout).usage.completion_tokens).toBeGreaterThan(0);
    for (const h of [h2, h3]) expect(server.log()).toMatch(new RegExp(`RPC\\d\\[${h.address.replace(/\./g, "\\.")}:${port}\\] model buffer size`));

    // the bench job on the head's host, over the bench workers on the others, while the head serves
    const bench = llamaBenchJob({
      datacenters: ["dc1"], binDir: dirname(llamaBinary("llama-bench")), modelPath: await ensureTinyChatModel(), modelAlias: "aide-tiny",
      backend: "llamacpp-rpc", node: "aide-01", threads: 1, memoryMB: 256, cpuMHz: 1000, promptTokens: 16, genTokens: 8, repetitions: 1,
      rpc: { workers: split.workers.map((w, i) => ({ node: w.node, share: split.tensorSplit[i] })), offloadedLayers: split.offloadedLayers },
      answerTimeoutSeconds: 30, timeoutSeconds: 240,
    }).Job.TaskGroups[0];
    const run = runTask(prepareTask(mainTask(bench), { ports: {}, services }), { netns: h1.ns });
    running.push(run);
    const [code, during] = await Promise.all([
      run.exited,
      lab.exec(h1, ["curl", "-sf", "-m", "60", "-H", "content-type: application/json", "-d",
        JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 8 }), `${url}/v1/chat/completions`]),
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(during.stdout).usage.completion_tokens).toBeGreaterThan(0);
    const results = parseBenchOutput(run.stdout());
    expect(results.map((r) => r.backend)).toEqual(["RPC", "RPC"]);
    expect(JSON.parse(run.stdout()).map((r: { gpu_info: string }) => r.gpu_info)[0]).toBe([h2, h3].map((h) => `${h.address}:${ports[BENCH_RPC_PORT]}`).join(", "));
  });
});
