// A lab's shaped link carries data at its rate, as the real LAN would: 8 MB over TCP
// between two nodes of a 100mbit lab arrives at no more than 110 % of 100 Mbit/s (and
// at least half of it), while the same transfer over an unshaped lab is much faster.
// @needs root, netns
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { createLabCluster, LabCluster, LabNode } from "../../scripts/lab/cluster";

const BYTES = 8 * 1024 * 1024;
const PORT = 5201;

// The receiver times from the first byte to the last, so connection setup is not counted.
const RECEIVER = `
const net = require("net");
const [host, port] = process.argv.slice(1);
const srv = net.createServer((s) => {
  let bytes = 0, first = 0;
  s.on("data", (b) => { if (!first) first = performance.now(); bytes += b.length; });
  s.on("end", () => { console.log(JSON.stringify({ bytes, seconds: (performance.now() - first) / 1000 })); srv.close(); });
});
srv.listen(Number(port), host, () => console.log("listening"));`;
const SENDER = `
const net = require("net");
const [host, port, total] = process.argv.slice(1);
const chunk = Buffer.alloc(64 * 1024, 7);
const s = net.connect(Number(port), host, () => {
  let left = Number(total);
  const pump = () => { while (left > 0) { left -= chunk.length; if (!s.write(chunk)) return s.once("drain", pump); } s.end(); };
  pump();
});`;

function lines(child: ChildProcess): AsyncIterator<string> {
  let buf = "";
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  child.stdout!.on("data", (b: Buffer) => {
    buf += b.toString();
    for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) queue.push(buf.slice(0, i));
    wake?.();
  });
  child.once("exit", () => wake?.());
  return {
    async next() {
      const deadline = Date.now() + 30_000;
      while (queue.length === 0) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no output from ${child.spawnargs.join(" ")}`);
        await new Promise<void>((r) => { wake = r; setTimeout(r, 500); });
      }
      return { value: queue.shift()!, done: false };
    },
  };
}

/** Mbit/s of one BYTES transfer from a to b over the lab's network. */
async function transfer(from: LabNode, to: LabNode): Promise<number> {
  const receiver = spawn("ip", ["netns", "exec", to.ns, process.execPath, "-e", RECEIVER, to.address, String(PORT)], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const out = lines(receiver);
    expect((await out.next()).value).toBe("listening");
    const sender = spawn("ip", ["netns", "exec", from.ns, process.execPath, "-e", SENDER, to.address, String(PORT), String(BYTES)], { stdio: "inherit" });
    const { bytes, seconds } = JSON.parse((await out.next()).value) as { bytes: number; seconds: number };
    await new Promise((r) => sender.exitCode !== null ? r(null) : sender.once("exit", r));
    expect(bytes).toBe(BYTES);
    return (bytes * 8) / seconds / 1e6;
  } finally {
    receiver.kill("SIGKILL");
  }
}

describe("a lab's network links", () => {
  let shaped: LabCluster;
  let open: LabCluster;
  beforeAll(async () => {
    const nodes = [{ name: "a", cpuBudget: 1 }, { name: "b", cpuBudget: 1 }];
    shaped = await createLabCluster(nodes, { prefix: "labnet", linkRate: "100mbit" });
    open = await createLabCluster(nodes, { prefix: "labopen" });
  });
  afterAll(async () => {
    await shaped?.teardown();
    await open?.teardown();
  });

  it("carry 8 MB at no more than the shaped rate of 100mbit, and at least half of it", async () => {
    const mbit = await transfer(shaped.node("a"), shaped.node("b"));
    const back = await transfer(shaped.node("b"), shaped.node("a"));
    console.log(`100mbit link: a→b ${mbit.toFixed(1)} Mbit/s, b→a ${back.toFixed(1)} Mbit/s`);
    for (const m of [mbit, back]) {
      expect(m).toBeLessThanOrEqual(110);
      expect(m).toBeGreaterThanOrEqual(50);
    }
  });

  it("are shaped at both ends, as a switch port: each host's eth0 and its port on the switch", () => {
    // After the transfers both ways, each node's two token buckets have carried 8 MB.
    for (const node of shaped.nodes) {
      const i = /-h(\d+)$/.exec(node.ns)![1];
      const ends: [string, string][] = [[node.ns, "eth0"], [node.ns.replace(/-h\d+$/, "-sw"), `p${i}`]];
      for (const [ns, dev] of ends) {
        const stats = execFileSync("tc", ["-n", ns, "-s", "qdisc", "show", "dev", dev], { encoding: "utf8" });
        expect(stats).toMatch(/qdisc tbf .* rate 100Mbit burst 128Kb/);
        expect(Number(/Sent (\d+) bytes/.exec(stats)![1])).toBeGreaterThan(BYTES);
      }
    }
  });

  it("are much faster unshaped (the control)", async () => {
    const mbit = await transfer(open.node("a"), open.node("b"));
    console.log(`unshaped link: ${mbit.toFixed(0)} Mbit/s`);
    expect(mbit).toBeGreaterThan(300);
  });
});
