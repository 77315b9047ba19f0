// The RPC cluster across hosts: three network-namespace hosts each run ggml-rpc-server
// on their own 10.x address, and the head runs llama-server in a fourth. Traffic
// crosses veth links and a bridge, as it would cross a LAN.
// @needs netns
import { execFileSync } from "node:child_process";
import { RunningProcess, startLlamaServer, startRpcWorker } from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { createNetnsHosts, NetnsLab } from "../support/netns";

describe("a llama.cpp RPC cluster across network-namespace hosts", () => {
  let lab: NetnsLab;
  const procs: RunningProcess[] = [];
  let head: RunningProcess;
  let workers: RunningProcess[];

  beforeAll(async () => {
    const model = await ensureTinyChatModel();
    lab = await createNetnsHosts(4, { prefix: "llrpc" });
    const [h1, h2, h3, headHost] = lab.hosts;
    workers = [];
    for (const h of [h1, h2, h3]) {
      const w = await startRpcWorker({ host: h.address, port: 50052, threads: 1, netns: h.ns });
      procs.push(w); workers.push(w);
    }
    head = await startLlamaServer({ model, threads: 1, host: headHost.address, port: 8080, netns: headHost.ns, rpc: workers.map((w) => w.url) });
    procs.push(head);
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await lab?.teardown();
  });

  it("spreads the layers over the three workers on their own addresses", () => {
    for (const w of workers) expect(w.host).toMatch(/^10\./);
    for (const w of workers) expect(head.log()).toMatch(new RegExp(`RPC\\d\\[${w.url.replace(/\./g, "\\.")}\\] model buffer size`));
  });

  it("answers a chat completion from the head's host", async () => {
    const headHost = lab.hosts[3];
    const { stdout } = await lab.exec(headHost, [
      "curl", "-sf", "-m", "60", `${head.url}/v1/chat/completions`, "-H", "content-type: application/json",
      "-d", JSON.stringify({ messages: [{ role: "user", content: "Hello there" }], max_tokens: 6, temperature: 0 }),
    ], { timeoutMs: 70_000 });
    const body = JSON.parse(stdout) as { usage: { completion_tokens: number }; choices: { message: { content: string } }[] };
    expect(body.usage.completion_tokens).toBe(6);
    expect(body.choices[0].message.content.length).toBeGreaterThan(0);
  });

  it("is invisible from this machine's own network", () => {
    // The test subnet exists only inside the namespaces, not on this machine's interfaces.
    expect(execFileSync("ip", ["-o", "addr"], { encoding: "utf8" })).not.toContain(head.host);
  });
});
