// The llamacpp-rpc job's command lines on three hosts (network namespaces with their
// own addresses): each worker binds only its host's cluster address (the RPC protocol
// has no authentication), and the head on another host serves a completion through them.
import { tmpdir } from "node:os";
import { dirname } from "node:path";
import { llamaCppSplit, LayerPlan } from "../../infra/planner";
import { llamaCppRpcJob } from "../../nomad-jobs";
import { canConnectIn, llamaBinary } from "../../scripts/lib/llama";
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

  it("binds each worker to its host's address only, and the head on another host serves through them", async () => {
    const [h1, h2, h3] = lab.hosts;
    const plan: LayerPlan = {
      mode: "split", head: "aide-01", explanation: [],
      shares: [[h1, 2], [h2, 1], [h3, 1]].map(([h, layers], i) => ({
        node: `aide-0${i + 1}`, address: (h as typeof h1).address, layers: layers as number, memoryBytes: 2 ** 28, threads: 1,
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
    const port = 24500; // each host has its own port space; Nomad would pick any free one
    for (const [i, host] of [h2, h3].entries()) {
      const g = job.TaskGroups[i];
      const task = runTask(prepareTask(g.Tasks[0], { ports: { rpc: { ip: host.address, port } } }), { netns: host.ns });
      running.push(task);
      await waitFor(`${g.Name} listening on ${host.address}`, () => canConnectIn(h1.ns, host.address, port), 30_000, task);
      // bound to the cluster address only: not even its own loopback answers
      expect(await canConnectIn(host.ns, "127.0.0.1", port)).toBe(false);
      services[g.Tasks[0].Services![0].Name] = [{ Address: host.address, Port: port, Tags: [] }];
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
  });
});
