// Test hosts on this machine: one network namespace per host, joined by a bridge that
// itself lives in a namespace, on a private 10.x subnet that exists only inside these
// namespaces (nothing is added to the machine's own network). teardown() removes them.
// Names carry the creating process id (<prefix>-<pid>-h1), so two test runs on one
// machine (a developer's and CI's) never touch each other's hosts; stale ones left by a
// killed run (its process gone) are removed first.
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
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === "EPERM"; }
}

/** This prefix's namespaces whose process is gone, or that this process made before. */
function staleNamespaces(prefix: string): string[] {
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

export async function createNetnsHosts(count: number, opts: { prefix?: string } = {}): Promise<NetnsLab> {
  const prefix = opts.prefix ?? "aide";
  if (!/^[a-z0-9]{1,8}$/.test(prefix)) throw new Error(`netns prefix must be 1-8 lowercase letters/digits, got '${prefix}'`);
  if (count < 1 || count > 50) throw new Error(`netns host count must be 1..50, got ${count}`);
  for (const ns of staleNamespaces(prefix)) ip("netns", "del", ns);

  const base = subnetFor(prefix);
  const owner = `${prefix}-${process.pid}`;
  const sw = `${owner}-sw`;
  const hosts: NetnsHost[] = [];
  const made: string[] = [];
  const teardown = async () => {
    for (const ns of [...made].reverse()) {
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
      hosts.push({ name: `h${i}`, ns, address });
    }
  } catch (e) {
    await teardown();
    throw new Error(`could not create network-namespace test hosts (needs root and iproute2): ${(e as Error).message}`);
  }
  return {
    hosts,
    subnet: `${base}.0/24`,
    exec: (host, argv, o = {}) =>
      run("ip", ["netns", "exec", host.ns, ...argv], { timeout: o.timeoutMs ?? 30_000, encoding: "utf8" }),
    teardown,
  };
}
