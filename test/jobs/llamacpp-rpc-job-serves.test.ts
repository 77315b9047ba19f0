// The llamacpp-rpc job's exact command lines, run here with the real legacy llama.cpp
// build and the tiny generated model: two RPC workers and the head serve a completion
// through the `--rpc` list its template renders from (stand-in) Nomad service discovery.
import { dirname } from "node:path";
import { llamaCppRpcJob, rpcServiceName, TaskGroup } from "../../nomad-jobs";
import { llamaBinary } from "../../scripts/lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { canConnect, freePort } from "../support/ports";
import { rpcArgs } from "./support/fixtures";
import { httpOk, prepareTask, renderTemplate, runTask, RunningTask, ServiceRegistry, waitFor } from "./support/nomad-runtime";

describe("llamacpp-rpc job, commands run for real", () => {
  const running: RunningTask[] = [];
  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop()));
  });

  it("renders one --rpc entry per worker in split order, one instance each", () => {
    const head = llamaCppRpcJob(rpcArgs()).Job.TaskGroups.find((g) => g.Name === "head")!;
    const services: ServiceRegistry = {
      [rpcServiceName("aide-03")]: [{ Address: "192.168.1.103", Port: 23001, Tags: [] }],
      // an old and a new allocation briefly registered together: the first is used
      [rpcServiceName("aide-02")]: [{ Address: "192.168.1.102", Port: 24001, Tags: [] }, { Address: "192.168.1.102", Port: 24002, Tags: [] }],
    };
    expect(renderTemplate(head.Tasks[0].Templates![0].EmbeddedTmpl, services)).toBe("LLAMA_ARG_RPC=192.168.1.102:24001,192.168.1.103:23001\n");
  });

  it("workers and head start from the job's command lines and serve a completion", async () => {
    const model = await ensureTinyChatModel();
    const binDir = dirname(llamaBinary("llama-server"));
    const job = llamaCppRpcJob(rpcArgs({
      binDir, modelPath: model, modelAlias: "aide-tiny", contextSize: 512,
      head: { node: "aide-01", threads: 1, memoryMB: 200, cpuMHz: 1000 },
      workers: [
        { node: "aide-02", threads: 1, memoryMB: 200, cpuMHz: 1000, share: 1 },
        { node: "aide-03", threads: 1, memoryMB: 200, cpuMHz: 1000, share: 1 },
      ],
      offloadedLayers: 2, // of the tiny model's 4: 2 stay on the head, 1 on each worker
      rpcCacheDir: `${require("node:os").tmpdir()}/aide-rpc-cache-test`,
    })).Job;
    const services: ServiceRegistry = {};
    const groups = (prefix: string) => job.TaskGroups.filter((g: TaskGroup) => g.Name.startsWith(prefix));

    for (const g of groups("rpc-")) {
      const port = await freePort();
      const task = runTask(prepareTask(g.Tasks[0], { ports: { rpc: { ip: "127.0.0.1", port } } }));
      running.push(task);
      await waitFor(`${g.Name} listening`, () => canConnect("127.0.0.1", port), 30_000, task);
      // what Nomad registers for the group's service once its tcp check passes
      services[g.Services![0].Name] = [{ Address: "127.0.0.1", Port: port, Tags: g.Services![0].Tags ?? [] }];
    }
    const [head] = groups("head");
    const httpPort = await freePort();
    const prepared = prepareTask(head.Tasks[0], { ports: { http: { ip: "127.0.0.1", port: httpPort } }, services });
    const workerPorts = Object.values(services).map((s) => s[0].Port);
    expect(prepared.env.LLAMA_ARG_RPC).toBe(workerPorts.map((p) => `127.0.0.1:${p}`).join(","));
    const server = runTask(prepared);
    running.push(server);
    const base = `http://127.0.0.1:${httpPort}`;
    // the job's own health check: path from the service definition
    await waitFor("head healthy", () => httpOk(`${base}${head.Services![0].Checks![0].Path}`), 90_000, server);

    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "aide-tiny", messages: [{ role: "user", content: "hello" }], max_tokens: 8, cache_prompt: true }),
      signal: AbortSignal.timeout(60_000),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(typeof body.choices[0].message.content).toBe("string");
    // the layers really went to the two workers
    for (const p of workerPorts) expect(server.log()).toMatch(new RegExp(`RPC\\d\\[127\\.0\\.0\\.1:${p}\\] model buffer size = +[0-9.]+ MiB`));
  });
});
