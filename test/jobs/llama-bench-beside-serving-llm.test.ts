// The benchmark over RPC while the LLM keeps serving, with the real legacy llama.cpp
// build and the tiny model: the llamacpp-rpc job's workers (both tasks of each worker
// group) and its head run from the job's own command lines, the head serves (and so
// holds its workers: a ggml-rpc-server serves one client at a time), and the llama-bench
// job's exact command runs at the same time over the bench workers its template finds.
// Pointed at the workers the head holds (the old behaviour), the bench is stopped by its
// bound with one line that says why, and the worker survives the stopped client.
import { tmpdir } from "node:os";
import { dirname } from "node:path";
import { LayerPlan, LayerShare, llamaCppSplit } from "../../infra/planner";
import { Job, llamaBenchJob, LlamaBenchJobArgs, llamaCppRpcJob, rpcServiceName, TaskGroup } from "../../nomad-jobs";
import { BENCH_RPC_PORT, benchRpcServiceName } from "../../nomad-jobs/llamacpp-rpc";
import { parseBenchOutput } from "../../scripts/bench-results";
import { llamaBinary } from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { canConnect, freePort } from "../support/ports";
import { mainTask, rpcArgs } from "./support/fixtures";
import { httpOk, prepareTask, runTask, RunningTask, ServiceRegistry, waitFor } from "./support/nomad-runtime";

/** The tiny model's 4 layers: 2 on the head, 1 on each worker. */
const PLAN: LayerPlan = {
  mode: "split", head: "aide-01", kvCacheType: "f32", explanation: [],
  shares: [["aide-01", 2], ["aide-02", 1], ["aide-03", 1]].map(([node, layers]) => ({ node: node as string, address: "127.0.0.1", layers: layers as number, memoryBytes: 200 * 2 ** 20, freeBytes: 2 ** 30, threads: 1 })),
};
const split = llamaCppSplit(PLAN);
const WORKERS = split.workers.map((w, i) => ({ node: w.node, share: split.tensorSplit[i] }));

async function exitWithin(task: RunningTask, ms: number): Promise<number | null | "still running"> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([task.exited, new Promise<"still running">((r) => { timer = setTimeout(() => r("still running"), ms); })]);
  clearTimeout(timer);
  return code;
}

describe("llama-bench over RPC while the LLM serves, commands run for real", () => {
  const running: RunningTask[] = [];
  const services: ServiceRegistry = {};
  const serving: Record<string, RunningTask> = {};
  let job: Job;
  let head: { task: RunningTask; base: string } | undefined;

  const group = (name: string): TaskGroup => job.TaskGroups.find((g) => g.Name === name)!;

  async function startHead(): Promise<{ task: RunningTask; base: string }> {
    const port = await freePort();
    const task = runTask(prepareTask(mainTask(group("head")), { ports: { http: { ip: "127.0.0.1", port } }, services }));
    running.push(task);
    const base = `http://127.0.0.1:${port}`;
    await waitFor("head healthy", () => httpOk(`${base}/health`), 90_000, task);
    return { task, base };
  }

  async function complete(base: string): Promise<number> {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "aide-tiny", messages: [{ role: "user", content: "hello" }], max_tokens: 8 }),
      signal: AbortSignal.timeout(60_000),
    });
    const body = (await res.json()) as { usage?: { completion_tokens: number } };
    return res.status === 200 && (body.usage?.completion_tokens ?? 0) > 0 ? 200 : res.status;
  }

  async function benchArgs(): Promise<LlamaBenchJobArgs> {
    return {
      datacenters: ["dc1"], binDir: dirname(llamaBinary("llama-bench")), modelPath: await ensureTinyChatModel(), modelAlias: "aide-tiny",
      backend: "llamacpp-rpc", node: "aide-01", threads: 1, memoryMB: 200, cpuMHz: 1000, promptTokens: 16, genTokens: 8, repetitions: 1,
      rpc: { workers: WORKERS, offloadedLayers: split.offloadedLayers },
    };
  }

  beforeAll(async () => {
    const role = (s: LayerShare) => ({ node: s.node, threads: s.threads, memoryMB: 200, cpuMHz: 1000 });
    job = llamaCppRpcJob(rpcArgs({
      binDir: dirname(llamaBinary("llama-server")), modelPath: await ensureTinyChatModel(), modelAlias: "aide-tiny", contextSize: 512,
      head: role(split.head),
      workers: split.workers.map((w, i) => ({ ...role(w), share: split.tensorSplit[i] })),
      offloadedLayers: split.offloadedLayers,
      rpcCacheDir: `${tmpdir()}/aide-rpc-cache-bench-test`,
    })).Job;
    // Each worker group's tasks, as a Nomad client starts them: every port label of the
    // group gets a port, every task's service registers once its tcp check passes.
    for (const w of WORKERS) {
      const g = group(`rpc-${w.node}`);
      const ports: Record<string, { ip: string; port: number }> = { rpc: { ip: "127.0.0.1", port: await freePort() }, [BENCH_RPC_PORT]: { ip: "127.0.0.1", port: await freePort() } };
      for (const t of g.Tasks) {
        const task = runTask(prepareTask(t, { ports }));
        running.push(task);
        const svc = t.Services![0];
        const { port } = ports[svc.PortLabel];
        await waitFor(`${g.Name}/${t.Name} listening`, () => canConnect("127.0.0.1", port), 30_000, task);
        services[svc.Name] = [{ Address: "127.0.0.1", Port: port, Tags: svc.Tags ?? [] }];
        if (svc.Name === rpcServiceName(w.node)) serving[w.node] = task;
      }
    }
    head = await startHead();
    // the head has served: it holds a connection to each serving worker from now on
    expect(await complete(head.base)).toBe(200);
  });
  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop()));
  });

  it("gives each worker node a second, idle RPC worker of its own for the bench, bound to the cluster address with explicit threads", () => {
    for (const w of WORKERS) {
      const g = group(`rpc-${w.node}`);
      expect(g.Tasks.map((t) => [t.Name, t.Services![0].Name, t.Services![0].PortLabel])).toEqual([
        ["ggml-rpc-server", rpcServiceName(w.node), "rpc"],
        ["ggml-rpc-server-bench", benchRpcServiceName(w.node), BENCH_RPC_PORT],
      ]);
      const bench = g.Tasks[1];
      expect(bench.Config.args).toEqual(expect.arrayContaining(["-H", `\${NOMAD_IP_${BENCH_RPC_PORT}}`, "-p", `\${NOMAD_PORT_${BENCH_RPC_PORT}}`, "-t", "1"]));
      // idle it needs little; while a bench runs it may grow to its layers' size
      expect(bench.Resources.MemoryMB).toBeLessThan(g.Tasks[0].Resources.MemoryMB);
      expect((bench.Resources as { MemoryMaxMB?: number }).MemoryMaxMB).toBe(g.Tasks[0].Resources.MemoryMB);
    }
  });

  it("runs the bench job's command over the bench workers while the head serves, prints results that parse, and the head still answers", async () => {
    const bench = llamaBenchJob({ ...(await benchArgs()), answerTimeoutSeconds: 30, timeoutSeconds: 240 }).Job.TaskGroups[0];
    // its prestart wait finds every bench worker registered and ends
    const wait = runTask(prepareTask(bench.Tasks.find((t) => t.Lifecycle)!, { ports: {}, services }));
    running.push(wait);
    expect(await exitWithin(wait, 10_000)).toBe(0);

    const prepared = prepareTask(mainTask(bench), { ports: {}, services });
    // --rpc lists the bench workers, in split order, never the ones the head holds
    expect(prepared.args[prepared.args.indexOf("-rpc") + 1])
      .toBe(WORKERS.map((w) => `127.0.0.1:${services[benchRpcServiceName(w.node)][0].Port}`).join(","));
    const task = runTask(prepared);
    running.push(task);
    // the head answers a user while the bench runs
    const [code, during] = await Promise.all([exitWithin(task, 270_000), complete(head!.base)]);
    expect([code, during]).toEqual([0, 200]);
    const results = parseBenchOutput(task.stdout());
    expect(results.map((r) => [r.test, r.backend, r.gpuLayers])).toEqual([["pp16", "RPC", split.offloadedLayers], ["tg8", "RPC", split.offloadedLayers]]);
    for (const r of results) expect(r.tokensPerSecond).toBeGreaterThan(0);
    expect(await complete(head!.base)).toBe(200);
  });

  it("stops a bench pointed at the workers the head holds within its bound, with one line saying why, and the head still answers", async () => {
    // the old wiring: the bench's services resolve to the serving workers
    const held: ServiceRegistry = Object.fromEntries(WORKERS.map((w) => [benchRpcServiceName(w.node), services[rpcServiceName(w.node)]]));
    const bench = llamaBenchJob({ ...(await benchArgs()), answerTimeoutSeconds: 5, timeoutSeconds: 240 }).Job.TaskGroups[0];
    const task = runTask(prepareTask(mainTask(bench), { ports: {}, services: held }));
    running.push(task);
    const started = Date.now();
    expect(await exitWithin(task, 30_000)).toBe(124);
    expect(Date.now() - started).toBeLessThan(20_000);
    const lines = task.log().trim().split("\n");
    expect(lines.filter((l) => l.startsWith("llama-bench: no answer"))).toHaveLength(1);
    expect(lines[lines.length - 1]).toMatch(
      /^llama-bench: no answer from the RPC workers within 5 s — a ggml-rpc-server serves one client at a time, .*aide-rpc-bench-<node> services of aide-llm/,
    );
    expect(task.stdout()).not.toMatch(/"avg_ts"/);
    expect(await complete(head!.base)).toBe(200);
  });

  it("a serving worker survives the stopped bench's queued connection once the head lets go, and serves a new head", async () => {
    // the head goes (a restart, an update): the first worker now accepts the connection
    // the stopped bench left queued, and answers a client that is gone
    const first = serving[WORKERS[0].node];
    const accepted = () => (first.log().match(/Accepted client connection/g) ?? []).length;
    const before = accepted();
    await head!.task.stop();
    await waitFor("the worker to take the queued connection", async () => accepted() > before, 15_000, first);
    await new Promise((r) => setTimeout(r, 2000));
    expect([first.child.exitCode, first.child.signalCode]).toEqual([null, null]);
    head = await startHead();
    expect(await complete(head.base)).toBe(200);
  });
});
