// Hosts on this machine: one network namespace per host, joined by a bridge that itself
// lives in a namespace, on a private 10.x subnet that exists only inside these
// namespaces (nothing is added to the machine's own network). teardown() removes them.
// Used by the tests (test/support/netns.ts re-exports this) and by the emulated cluster
// of the benchmarks (scripts/lab/cluster.ts).
// Names carry the creating process id (<prefix>-<pid>-h1), so two runs on one machine
// (a developer's and CI's) never touch each other's hosts; stale ones left by a killed
// run (its process gone) are removed first, with any process still inside them.
import { execFileSync, execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface NetnsHost { name: string; ns: string; address: string }
export interface NetnsLab {
  hosts: NetnsHost[];
  subnet: string;
  /** Runs argv inside the host's namespace; rejects with its stderr on failure. */
  exec(host: NetnsHost, argv: string[], opts?: { timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  teardown(): Promise<void>;
  /** The same as teardown, for exit handlers that cannot wait. */
  teardownSync(): void;
}

export interface NetnsOptions {
  /** 1-8 lowercase letters/digits; default "aide". */
  prefix?: string;
  /** Shape each host's link to this rate (tc units: "100mbit", "1gbit"); default: veth speed. */
  linkRate?: string;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === "EPERM"; }
}

/** SIGKILLs whatever still runs inside a namespace: `ip netns del` only removes its
 * name, and a process left inside would run on, unreachable, holding its port. */
function killInside(ns: string): void {
  let pids: string;
  try { pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }); } catch { return; }
  for (const p of pids.split(/\s+/).filter(Boolean)) {
    try { process.kill(Number(p), "SIGKILL"); } catch { /* already gone */ }
  }
}

/** This prefix's namespaces whose process is gone, or that this process made before. */
export function staleNamespaces(prefix: string): string[] {
  const out = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  return out.split("\n").map((l) => l.split(" ")[0]).filter((n) => {
    const m = new RegExp(`^${prefix}-(\\d+)-(sw|h\\d+)$`).exec(n);
    return m !== null && (Number(m[1]) === process.pid || !alive(Number(m[1])));
  });
}

/** A /24 in 10.200-250.x picked from the prefix, so parallel suites don't collide. */
function subnetFor(prefix: string): string {
  let h = 0;
  for (const c of prefix) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `10.${200 + (h % 50)}.${(h >>> 8) % 250}`;
}

const UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** "100mbit" → 1e8 bits/s; tc's decimal units (kbit = 1000 bit). */
export function parseLinkRate(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/.exec(rate);
  const bits = m ? Number(m[1]) * UNITS[m[2]] : NaN;
  if (!(bits >= 1e5)) throw new Error(`link rate must be like "100mbit" or "1gbit" (at least 100kbit), got '${rate}'`);
  return bits;
}

/**
 * tbf's arguments for a link of `rate`, the way a switch port of that speed behaves:
 * - burst: max(128 KiB, 1 ms at the rate). veth hands the qdisc TSO/GSO super-packets of
 *   up to 64 KB, which tbf accounts with one header per segment (~68 KB); a bucket that
 *   holds one whole super-packet passes it as is instead of re-segmenting it in software
 *   (CPU this 2-core machine does not have). Beyond that the bucket is what can leave
 *   above the rate at once, which a real link never allows: 1 ms of the rate keeps that
 *   small (at 1gbit: 125 kB; over a few MB it adds ~1-2 %).
 * - latency 5 ms: the queue tbf keeps before dropping (rate × 5 ms + burst, ~750 kB at
 *   1gbit), about the per-port buffer of a cheap gigabit switch. On a LAN the
 *   bandwidth-delay product is tens of kB, so TCP fills the link without loss-driven
 *   stalls, while a saturated link (RPC tensors during prompt processing) adds at most
 *   the few ms of queueing a real switch adds — not the seconds of a bufferbloated queue.
 */
export function tbfArgs(rate: string): string[] {
  const bytesPerSec = parseLinkRate(rate) / 8;
  const burst = Math.max(128 * 1024, Math.round(bytesPerSec / 1000));
  return ["tbf", "rate", rate, "burst", String(burst), "latency", "5ms"];
}

export async function createNetnsHosts(count: number, opts: NetnsOptions = {}): Promise<NetnsLab> {
  const prefix = opts.prefix ?? "aide";
  if (!/^[a-z0-9]{1,8}$/.test(prefix)) throw new Error(`netns prefix must be 1-8 lowercase letters/digits, got '${prefix}'`);
  if (count < 1 || count > 50) throw new Error(`netns host count must be 1..50, got ${count}`);
  const shaping = opts.linkRate === undefined ? undefined : tbfArgs(opts.linkRate);
  for (const ns of staleNamespaces(prefix)) { killInside(ns); ip("netns", "del", ns); }

  const base = subnetFor(prefix);
  const owner = `${prefix}-${process.pid}`;
  const sw = `${owner}-sw`;
  const hosts: NetnsHost[] = [];
  const made: string[] = [];
  const teardownSync = () => {
    for (const ns of [...made].reverse()) {
      killInside(ns);
      try { ip("netns", "del", ns); } catch { /* already gone */ }
    }
    made.length = 0;
  };
  try {
    ip("netns", "add", sw); made.push(sw);
    ip("-n", sw, "link", "add", "br0", "type", "bridge");
    ip("-n", sw, "link", "set", "br0", "up");
    ip("-n", sw, "link", "set", "lo", "up");
    for (let i = 1; i <= count; i++) {
      const ns = `${owner}-h${i}`;
      const address = `${base}.${i + 1}`;
      ip("netns", "add", ns); made.push(ns);
      ip("-n", sw, "link", "add", `p${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns);
      ip("-n", sw, "link", "set", `p${i}`, "master", "br0");
      ip("-n", sw, "link", "set", `p${i}`, "up");
      ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
      ip("-n", ns, "link", "set", "eth0", "up");
      ip("-n", ns, "link", "set", "lo", "up");
      if (shaping) {
        // Both ends, as a switch port: eth0 shapes what the host sends, the switch-side
        // port what is sent to the host (a qdisc acts only on a device's egress).
        execFileSync("tc", ["-n", ns, "qdisc", "add", "dev", "eth0", "root", ...shaping], { stdio: ["ignore", "ignore", "pipe"] });
        execFileSync("tc", ["-n", sw, "qdisc", "add", "dev", `p${i}`, "root", ...shaping], { stdio: ["ignore", "ignore", "pipe"] });
      }
      hosts.push({ name: `h${i}`, ns, address });
    }
  } catch (e) {
    teardownSync();
    throw new Error(`could not create network-namespace hosts (needs root and iproute2): ${(e as Error).message}`);
  }
  return {
    hosts,
    subnet: `${base}.0/24`,
    exec: (host, argv, o = {}) =>
      run("ip", ["netns", "exec", host.ns, ...argv], { timeout: o.timeoutMs ?? 30_000, encoding: "utf8" }),
    teardown: async () => teardownSync(),
    teardownSync,
  };
}
