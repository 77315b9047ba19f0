// The llamacpp-rpc job's exact command lines, run here with the real legacy llama.cpp
// build and the tiny generated model: two RPC workers and the head serve a completion
// through the `--rpc` list its template renders from (stand-in) Nomad service discovery,
// with the layers exactly where the planner's split puts them; and when a worker dies, what the job tells Nomad to do brings the service back.
// @slow: two RPC workers and a head llama-server (about 13 s alone)
import { tmpdir } from "node:os";
import { dirname } from "node:path";
import { readModelFacts } from "../../infra/model-facts";
import { LayerPlan, LayerShare, llamaCppSplit } from "../../infra/planner";
import { Job, llamaCppRpcJob, rpcServiceName, TaskGroup } from "../../nomad-jobs";
import { llamaBinary } from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { canConnect, freePort } from "../support/ports";
import { mainTask, rpcArgs } from "./support/fixtures";
import { httpOk, prepareTask, renderTemplate, rerenderTemplates, runTask, RunningTask, ServiceRegistry, waitFor } from "./support/nomad-runtime";

describe("llamacpp-rpc job, commands run for real", () => {
  const running: RunningTask[] = [];
  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop()));
  });

  /** A plan for the tiny model's 4 layers: 2 on the head, 1 on each worker. */
  const PLAN: LayerPlan = {
    mode: "split", head: "aide-01", kvCacheType: "f32", explanation: [],
    shares: [["aide-01", 2], ["aide-02", 1], ["aide-03", 1]].map(([node, layers]) => ({ node: node as string, address: "127.0.0.1", layers: layers as number, memoryBytes: 200 * 2 ** 20, freeBytes: 2 ** 30, threads: 1 })),
  };

  async function tinyJob(extra: Partial<Parameters<typeof llamaCppRpcJob>[0]> = {}): Promise<Job> {
    const split = llamaCppSplit(PLAN);
    const role = (s: LayerShare) => ({ node: s.node, threads: s.threads, memoryMB: 200, cpuMHz: 1000 });
    return llamaCppRpcJob(rpcArgs({
      binDir: dirname(llamaBinary("llama-server")), modelPath: await ensureTinyChatModel(), modelAlias: "aide-tiny", contextSize: 512,
      head: role(split.head),
      workers: split.workers.map((w, i) => ({ ...role(w), share: split.tensorSplit[i] })),
      offloadedLayers: split.offloadedLayers,
      kvCacheType: PLAN.kvCacheType, // f32 through RPC, as the planner chooses for llama.cpp
      rpcCacheDir: `${tmpdir()}/aide-rpc-cache-test`,
      ...extra,
    })).Job;
  }
  const group = (job: Job, name: string): TaskGroup => job.TaskGroups.find((g) => g.Name === name)!;

  /** Starts a worker group's task as a Nomad client would, and registers its service once its tcp check passes. */
  async function startWorker(g: TaskGroup, services: ServiceRegistry): Promise<RunningTask> {
    const port = await freePort();
    const task = runTask(prepareTask(g.Tasks[0], { ports: { rpc: { ip: "127.0.0.1", port } } }));
    running.push(task);
    await waitFor(`${g.Name} listening`, () => canConnect("127.0.0.1", port), 30_000, task);
    const svc = g.Tasks[0].Services![0];
    services[svc.Name] = [{ Address: "127.0.0.1", Port: port, Tags: svc.Tags ?? [] }];
    return task;
  }

  async function startHead(job: Job, services: ServiceRegistry): Promise<{ task: RunningTask; base: string }> {
    const { task, base } = await startHeadTask(job, services);
    const head = group(job, "head");
    // the job's own health check: path from the service definition
    await waitFor("head healthy", () => httpOk(`${base}${mainTask(head).Services![0].Checks![0].Path}`), 90_000, task);
    return { task, base };
  }

  /** Starts the head's main task (its prestart already done) without waiting for it to be healthy. */
  async function startHeadTask(job: Job, services: ServiceRegistry): Promise<{ task: RunningTask; base: string }> {
    const head = group(job, "head");
    const port = await freePort();
    const task = runTask(prepareTask(mainTask(head), { ports: { http: { ip: "127.0.0.1", port } }, services }));
    running.push(task);
    return { task, base: `http://127.0.0.1:${port}` };
  }

  async function complete(base: string): Promise<Response> {
    return fetch(`${base}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "aide-tiny", messages: [{ role: "user", content: "hello" }], max_tokens: 8, cache_prompt: true }),
      signal: AbortSignal.timeout(60_000),
    });
  }

  it("renders one --rpc entry per worker in split order, one instance each", () => {
    const head = group(llamaCppRpcJob(rpcArgs()).Job, "head");
    const services: ServiceRegistry = {
      [rpcServiceName("aide-03")]: [{ Address: "192.168.1.103", Port: 23001, Tags: [] }],
      // an old and a new allocation briefly registered together: the first is used
      [rpcServiceName("aide-02")]: [{ Address: "192.168.1.102", Port: 24001, Tags: [] }, { Address: "192.168.1.102", Port: 24002, Tags: [] }],
    };
    expect(renderTemplate(mainTask(head).Templates![0].EmbeddedTmpl, services)).toBe("LLAMA_ARG_RPC=192.168.1.102:24001,192.168.1.103:23001\n");
  });

  it("holds the head back until every worker has registered, saying which are there", async () => {
    const job = await tinyJob();
    const head = group(job, "head");
    const wait = head.Tasks.find((t) => t.Lifecycle)!;
    expect(wait.Lifecycle).toEqual({ Hook: "prestart", Sidecar: false });
    const services: ServiceRegistry = { [rpcServiceName("aide-02")]: [{ Address: "127.0.0.1", Port: 24001, Tags: [] }] };
    const prepared = prepareTask(wait, { ports: {}, services });
    const task = runTask(prepared);
    running.push(task);
    await waitFor("the wait to report the gap", async () => task.log().includes("waiting for every RPC worker to register (so far: 127.0.0.1:24001,)"), 10_000, task);
    expect(task.child.exitCode).toBeNull();
    // aide-03's worker registers: Nomad re-renders the template; the wait ends and the head may start
    services[rpcServiceName("aide-03")] = [{ Address: "127.0.0.1", Port: 24002, Tags: [] }];
    rerenderTemplates(wait, prepared, services);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([task.exited, new Promise((r) => { timer = setTimeout(() => r("still waiting"), 10_000); })]);
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(task.log()).toContain("all RPC workers registered: 127.0.0.1:24001,127.0.0.1:24002");
  });

  it("workers and head start from the job's command lines and serve a completion", async () => {
    const job = await tinyJob();
    const services: ServiceRegistry = {};
    for (const g of job.TaskGroups.filter((x) => x.Name.startsWith("rpc-"))) await startWorker(g, services);
    const { task: server, base } = await startHead(job, services);
    const workerPorts = Object.values(services).map((s) => s[0].Port);
    expect(server.prepared.env.LLAMA_ARG_RPC).toBe(workerPorts.map((p) => `127.0.0.1:${p}`).join(","));

    const res = await complete(base);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(typeof body.choices[0].message.content).toBe("string");
    // the layers went where the plan put them: 2 on the head's CPU, 1 on each worker,
    // and the output head (llama.cpp's extra "layer") on the last worker
    const facts = readModelFacts(await ensureTinyChatModel());
    const mib = (b: number) => (b / 2 ** 20).toFixed(2);
    const log = server.log();
    expect(log).toContain("offloaded 3/5 layers to GPU");
    // the K/V cache in the plan's type, on the head's CPU and on each worker
    expect(log.match(/K \(f32\): +[\d.]+ MiB, V \(f32\)/g)?.length).toBeGreaterThan(0);
    expect(log).not.toMatch(/K \(f16\)/);
    expect(log).toMatch(new RegExp(`RPC\\d\\[127\\.0\\.0\\.1:${workerPorts[0]}\\] model buffer size = +${mib(facts.layerBytes[0])} MiB`));
    expect(log).toMatch(new RegExp(`RPC\\d\\[127\\.0\\.0\\.1:${workerPorts[1]}\\] model buffer size = +${mib(facts.layerBytes[0] + facts.outputBytes!)} MiB`));
    expect(log).toMatch(new RegExp(`CPU_Mapped model buffer size = +${mib(2 * facts.layerBytes[0] + facts.otherBytes)} MiB`));
  });

  it("comes back after a worker dies: the head fails, Nomad restarts the worker and, on the new address, the head", async () => {
    const job = await tinyJob();
    const services: ServiceRegistry = {};
    const workers: RunningTask[] = [];
    for (const g of job.TaskGroups.filter((x) => x.Name.startsWith("rpc-"))) workers.push(await startWorker(g, services));
    const first = await startHead(job, services);
    expect((await complete(first.base)).status).toBe(200);

    // aide-03's worker vanishes (power cut, OOM): the head cannot serve any more
    workers[1].child.kill("SIGKILL");
    await workers[1].exited;
    const broken = await complete(first.base).then((r) => r.status, () => "connection lost");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first.task.exited, new Promise((r) => { timer = setTimeout(r, 15_000); })]);
    clearTimeout(timer);
    // llama-server aborts on the request (ggml's RPC backend has no reconnect)
    expect([broken, first.task.child.signalCode]).toEqual(["connection lost", "SIGABRT"]);
    // which is why the head's group restarts forever at a calm pace, and its health check restarts a hung head
    const head = group(job, "head");
    expect(head.RestartPolicy).toMatchObject({ Mode: "delay" });
    expect(mainTask(head).Services![0].Checks![0].CheckRestart).toMatchObject({ Limit: 3 });
    await first.task.stop();

    // Nomad restarts the worker (a new dynamic port), the template renders the new
    // address, and its change_mode restarts the head, which serves again.
    expect(mainTask(group(job, "head")).Templates![0].ChangeMode).toBe("restart");
    await startWorker(group(job, "rpc-aide-03"), services);
    const second = await startHead(job, services);
    expect(second.task.prepared.env.LLAMA_ARG_RPC).toContain(`127.0.0.1:${services[rpcServiceName("aide-03")][0].Port}`);
    expect((await complete(second.base)).status).toBe(200);
  });

  it("re-plans over the live workers when one stays gone, and serves again", async () => {
    // Without aide-03 the tiny model's 4 layers go 3 on the head, 1 on aide-02 (+ the output head).
    const job = await tinyJob({ workerWaitSeconds: 3, fallbacks: [{ missing: "aide-03", offloadedLayers: 2, tensorSplit: [2] }] });
    const services: ServiceRegistry = {};
    await startWorker(group(job, "rpc-aide-02"), services); // aide-03's desktop is dead
    const wait = runTask(prepareTask(group(job, "head").Tasks.find((t) => t.Lifecycle)!, { ports: {}, services }));
    running.push(wait);
    expect(await wait.exited).toBe(0);
    expect(wait.log()).toContain("RPC worker(s) aide-03 not registered after 3 s: the head starts without them if the model fits on the rest");
    const started = Date.now();
    const { task, base } = await startHeadTask(job, services);
    await waitFor("head healthy without aide-03", () => httpOk(`${base}/health`), 90_000, task);
    process.stdout.write(`llamacpp-rpc head re-planned without a worker and healthy ${Date.now() - started} ms after start (3 s of it waiting)\n`);
    expect(task.log()).toContain(`RPC worker aide-03 is gone: re-planned over the rest (127.0.0.1:${services[rpcServiceName("aide-02")][0].Port}): -ngl 2 --tensor-split 2`);
    expect(task.log()).toContain("offloaded 2/5 layers to GPU");
    expect((await complete(base)).status).toBe(200);
  });

  it("says which worker is missing and what it needs when the model does not fit without it", async () => {
    const why = "aide-03 held 1 layers, 0.20 GiB, and the model does not fit on the rest: bring aide-03 back";
    const job = await tinyJob({ workerWaitSeconds: 0, fallbacks: [{ missing: "aide-03", why }] });
    const services: ServiceRegistry = {};
    await startWorker(group(job, "rpc-aide-02"), services);
    const { task } = await startHeadTask(job, services);
    expect(await task.exited).toBe(1);
    expect(task.log()).toContain(`RPC worker aide-03 is gone: ${why}`);
  });
});
