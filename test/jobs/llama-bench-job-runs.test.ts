// The llama-bench job's exact command line, run here with the real legacy build and the
// tiny model, locally and over two RPC workers: it prints JSON that parses into results
// (what `npm run bench:results` reads back from the allocation's logs).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { llamaBenchJob, LlamaBenchJobArgs } from "../../nomad-jobs";
import { benchRpcServiceName } from "../../nomad-jobs/llamacpp-rpc";
import { parseBenchOutput } from "../../scripts/bench-results";
import { llamaBinary } from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { canConnect, freePort } from "../support/ports";
import { mainTask } from "./support/fixtures";
import { prepareTask, runTask, RunningTask, waitFor } from "./support/nomad-runtime";

describe("llama-bench job, command run for real", () => {
  const running: RunningTask[] = [];
  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop()));
  });

  async function benchArgs(): Promise<LlamaBenchJobArgs> {
    return {
      datacenters: ["dc1"], binDir: dirname(llamaBinary("llama-bench")), modelPath: await ensureTinyChatModel(), modelAlias: "aide-tiny",
      backend: "llamacpp-rpc", node: "aide-01", threads: 1, memoryMB: 200, cpuMHz: 1000, promptTokens: 16, genTokens: 8, repetitions: 2,
    };
  }

  async function runToEnd(task: RunningTask): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([task.exited, new Promise<"timeout">((r) => { timer = setTimeout(() => r("timeout"), 90_000); })]);
    clearTimeout(timer);
    if (code !== 0) throw new Error(`llama-bench ended with ${code}:\n${task.log().slice(-2000)}`);
    return task.stdout();
  }

  it("prints results that parse, on one node, with a model path full of shell syntax", async () => {
    // argv, not a shell: quotes, spaces and $(…) in the path arrive as data
    const dir = join(mkdtempSync(join(tmpdir(), "aide-bench-")), `it's a "dir" $(touch pwned) `);
    mkdirSync(dir);
    const model = join(dir, "model.gguf");
    copyFileSync(await ensureTinyChatModel(), model);
    const job = llamaBenchJob({ ...(await benchArgs()), modelPath: model }).Job;
    const task = runTask(prepareTask(job.TaskGroups[0].Tasks[0], { ports: {} }));
    running.push(task);
    await runToEnd(task);
    expect(existsSync(join(task.prepared.taskRoot, "pwned"))).toBe(false);
    const results = parseBenchOutput(task.stdout());
    expect(results.map((r) => [r.test, r.nPrompt, r.nGen])).toEqual([["pp16", 16, 0], ["tg8", 0, 8]]);
    for (const r of results) {
      expect(r.tokensPerSecond).toBeGreaterThan(0);
      expect(r.threads).toBe(1);
      expect(r.modelType).toMatch(/llama/);
    }
  });

  it("stops a run that outlasts its bound, saying so in one line", async () => {
    const job = llamaBenchJob({ ...(await benchArgs()), promptTokens: 512, genTokens: 512, repetitions: 100, timeoutSeconds: 1 }).Job;
    const task = runTask(prepareTask(job.TaskGroups[0].Tasks[0], { ports: {} }));
    running.push(task);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([task.exited, new Promise<"still running">((r) => { timer = setTimeout(() => r("still running"), 15_000); })]);
    clearTimeout(timer);
    expect(code).toBe(124);
    const lines = task.log().trim().split("\n");
    expect(lines[lines.length - 1]).toBe(
      "llama-bench: not finished within 1 s — stopped (a slow node or a big model: raise the bound, the 1 in aide-llama-bench's args, and run it again)",
    );
  });

  it("names the likeliest cause when an RPC worker goes away mid-run: a bench worker killed for memory", async () => {
    const port = await freePort();
    const worker = runTask({
      command: llamaBinary("ggml-rpc-server"), args: ["-H", "127.0.0.1", "-p", String(port), "-t", "1"], env: {}, taskRoot: "/tmp", rendered: {},
    });
    running.push(worker);
    await waitFor("worker listening", () => canConnect("127.0.0.1", port), 30_000, worker);
    const job = llamaBenchJob({
      ...(await benchArgs()), promptTokens: 512, genTokens: 512, repetitions: 100, rpc: { workers: [{ node: "aide-02", share: 1 }], offloadedLayers: 3 },
    }).Job;
    const task = runTask(prepareTask(mainTask(job.TaskGroups[0]), { ports: {}, services: { [benchRpcServiceName("aide-02")]: [{ Address: "127.0.0.1", Port: port, Tags: [] }] } }));
    running.push(task);
    await waitFor("the bench running on the worker", async () => /benchmark 1\/\d+: prompt run/.test(task.log()), 30_000, task);
    worker.child.kill("SIGKILL"); // what the kernel does to a task over its memory limit
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([task.exited, new Promise<"still running">((r) => { timer = setTimeout(() => r("still running"), 30_000); })]);
    clearTimeout(timer);
    expect(code).not.toBe(0);
    expect(code).not.toBe("still running");
    const lines = task.log().trim().split("\n");
    expect(lines[lines.length - 1]).toBe(
      "llama-bench: an RPC worker went away mid-run — if Nomad killed a bench worker for memory (nomad alloc status of aide-llm shows OOM), " +
        "it can grow past its 128 MB reservation only with memory oversubscription on: nomad operator scheduler set-config -memory-oversubscription=true",
    );
    // bash's own notice of the aborted job stays out of the log
    expect(task.log()).not.toMatch(/(Aborted|Broken pipe|Killed)\s+timeout|IFS= read/);
  });

  it("prints results that parse, with its layers on two RPC workers", async () => {
    const workers = [{ node: "aide-02", share: 1 }, { node: "aide-03", share: 1 }];
    const services: Record<string, { Address: string; Port: number; Tags: string[] }[]> = {};
    for (const w of workers) {
      // the workers are the llamacpp-rpc job's bench workers; started the way that job starts them
      const port = await freePort();
      const worker = runTask({
        command: llamaBinary("ggml-rpc-server"), args: ["-H", "127.0.0.1", "-p", String(port), "-t", "1"], env: {}, taskRoot: "/tmp", rendered: {},
      });
      running.push(worker);
      await waitFor(`${w.node} listening`, () => canConnect("127.0.0.1", port), 30_000, worker);
      services[benchRpcServiceName(w.node)] = [{ Address: "127.0.0.1", Port: port, Tags: [] }];
    }
    const job = llamaBenchJob({ ...(await benchArgs()), rpc: { workers, offloadedLayers: 2 } }).Job;
    const prepared = prepareTask(mainTask(job.TaskGroups[0]), { ports: {}, services });
    // Nomad interpolated the template's env var into the -rpc argument
    expect(prepared.args[prepared.args.indexOf("-rpc") + 1]).toBe(Object.values(services).map((s) => `127.0.0.1:${s[0].Port}`).join(","));
    const task = runTask(prepared);
    running.push(task);
    const results = parseBenchOutput(await runToEnd(task));
    expect(results).toHaveLength(2);
    expect(results[0].backend).toMatch(/RPC/);
    expect(results[0].gpuLayers).toBe(2);
  });
});
