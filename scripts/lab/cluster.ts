// An emulated cluster of Core 2 desktops on this machine, for `npm run bench:cluster`:
// each node is a network-namespace host (lib/netns.ts; optionally a shaped
// link, e.g. 1gbit as on the real LAN) plus a cgroup v1 CPU group whose CFS quota holds
// everything the node runs to its CPU budget (0.35 = 35 % of one of this machine's
// cores, the speed ratio of a Core 2 Duo core to one here).
//
// Names carry the creating process id (cgroup <prefix>-<pid>-<node> under the cpu and
// cpuacct hierarchies, namespaces <prefix>-<pid>-h1 …), so a later run finds what a
// killed run left (its process gone) and removes it: processes first, then groups,
// then namespaces. Ctrl-C, SIGTERM and a normal exit tear down too.
import { ChildProcess, execFileSync, spawn as spawnChild } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmdirSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { watchProcess } from "../../lib/llama";
import { alive, createNetnsHosts, NetnsLab } from "../../lib/netns";

export interface LabNodeSpec {
  name: string;
  /** Cores of this machine the node may use, e.g. 0.35. */
  cpuBudget: number;
}

export interface LabOptions {
  /** 1-8 lowercase letters/digits, shared by the node's namespace and groups; default "aidelab". */
  prefix?: string;
  /** Shape every node's link (tc units, "1gbit"); default: unshaped veth. */
  linkRate?: string;
  /** CFS period in µs; default 10 ms (see DEFAULT_PERIOD_US). */
  periodUs?: number;
}

export interface LabNode {
  name: string;
  /** Its 10.x address on the lab's bridge. */
  address: string;
  /** Its network namespace (`ip netns exec <ns> …`). */
  ns: string;
  /** Its cgroup directory in the cpu hierarchy (cpu.cfs_quota_us, cgroup.procs). */
  cgroup: string;
  /** Its current CPU budget in cores. */
  budget: number;
}

export interface LabProcess {
  pid: number;
  /** Everything it printed so far (stdout + stderr). */
  log(): string;
  /** Resolves with the exit code (or signal name) when it ends. */
  exited: Promise<number | string>;
  /** SIGTERM to its whole tree, SIGKILL after 5 s; resolves when the tree is gone. */
  stop(): Promise<void>;
}

export interface LabCluster {
  nodes: LabNode[];
  /** How cpuSeconds counts: "cpuacct" — the group's cpuacct.usage (every process that
   * ever ran in it, exited ones too); "proc-stat" — the sum of /proc/<pid>/stat over the
   * processes in it now (their reaped children included, exited ones lost). */
  accounting: "cpuacct" | "proc-stat";
  node(name: string): LabNode;
  /** argv prefix for inside `ip netns exec <node.ns> …`: enters the node's groups, then
   * execs the rest — e.g. startLlamaServer({ netns: node.ns, wrapper: lab.wrapper(node) }).
   * Valid while this process lives (it reaches the groups through /proc/<this pid>/root). */
  wrapper(node: LabNode): string[];
  spawn(node: LabNode, argv: string[], opts?: { env?: NodeJS.ProcessEnv; cwd?: string }): LabProcess;
  setBudget(node: LabNode, cores: number): void;
  /** CPU time the node's group has used, in seconds. */
  cpuSeconds(node: LabNode): number;
  teardown(): Promise<void>;
}

// 10 ms, not the kernel's 100 ms: the quota is spent at full speed and then the group
// waits for the next period, so a short piece of work either runs at this machine's
// speed or stalls for the rest of the period. Measured here with 2.6 ms units of work
// at 0.35 cores: period 100 ms → p50 2.6 ms, p95 55 ms (full speed, or a 65 ms stall);
// 10 ms → p50 6.7 ms, p95 19 ms (≈ 2.6 / 0.35, a slower CPU). Per-token work of
// llama.cpp and the voice agent is that short. The cost is one throttle timer per
// group per period (cheap), and the kernel's 1 ms minimum quota: budgets from 0.1 core.
export const DEFAULT_PERIOD_US = 10_000;
// cpu.shares of the lab's groups, 10x the default (1024) a task in the root group has:
// when other work on this shared machine competes, a busy node still gets its whole
// quota (shares give priority up to it; the quota caps it, so the lab as a whole never
// takes more than the sum of its budgets). Measured: 0.50 and 0.25 held to within 1 %
// beside a 2-job compile of llama.cpp.
const LAB_SHARES = 10 * 1024;
const STOP_GRACE_MS = 5_000;

interface Hierarchies { cpu: string; acct?: string }

/** Mount points of the cgroup v1 cpu and cpuacct controllers (one, if co-mounted). */
function hierarchies(): Partial<Hierarchies> {
  const found: Partial<Hierarchies> = {};
  for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
    const [, dir, type, options] = line.split(" ");
    if (type !== "cgroup") continue;
    const opts = options.split(",");
    if (opts.includes("cpu")) found.cpu = dir;
    if (opts.includes("cpuacct")) found.acct = dir;
  }
  return found;
}

/** Why this machine cannot run the lab, in one line; undefined when it can. */
export function labPreflight(): string | undefined {
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    return "the emulated cluster needs root on Linux (cgroups, network namespaces, tc) — run it as root, e.g. sudo npm run bench:cluster";
  }
  const { cpu } = hierarchies();
  if (!cpu || !existsSync(join(cpu, "cpu.cfs_quota_us"))) {
    return "the emulated cluster needs the cgroup v1 cpu controller with CFS quotas, and this kernel has none mounted (cgroup v2 only?) — boot with systemd.unified_cgroup_hierarchy=0, or mount it: mkdir -p /sys/fs/cgroup/cpu && mount -t cgroup -o cpu cgroup /sys/fs/cgroup/cpu";
  }
  try { execFileSync("tc", ["-V"], { stdio: "ignore" }); } catch {
    return "the emulated cluster needs ip and tc — install them: apt-get install iproute2";
  }
  return undefined;
}

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function readStat(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm (field 2) may contain spaces: fields after it start past the last ')'.
    return [String(pid), "comm", ...s.slice(s.lastIndexOf(")") + 2).split(" ")];
  } catch { return undefined; }
}

/** Running (not zombie) processes of a group: a zombie has already left cgroup.procs,
 * but the pid may be read just before it dies. */
function groupPids(dir: string): number[] {
  let text: string;
  try { text = readFileSync(join(dir, "cgroup.procs"), "utf8"); } catch { return []; }
  return text.split("\n").filter(Boolean).map(Number).filter((p) => !dead(p));
}

const dead = (pid: number): boolean => { const f = readStat(pid); return !f || f[2] === "Z"; };

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const p of pids) { try { process.kill(p, signal); } catch { /* already gone */ } }
}

/** Asks what runs in the groups to end (SIGTERM) and waits up to graceMs for it. */
async function endGroups(dirs: string[], graceMs: number): Promise<void> {
  const empty = () => dirs.every((d) => groupPids(d).length === 0);
  for (const d of dirs) signalAll(groupPids(d), "SIGTERM");
  for (const end = Date.now() + graceMs; !empty() && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
}

/** Kills what still runs in the groups, waits until they are empty, and removes them.
 * Synchronous, so an exit handler can use it. */
function removeGroups(dirs: string[]): void {
  const present = dirs.filter((d) => existsSync(d));
  const empty = () => present.every((d) => groupPids(d).length === 0);
  // Repeated: a process can fork between reading cgroup.procs and the kill.
  for (const end = Date.now() + 5_000; !empty() && Date.now() < end;) {
    for (const d of present) signalAll(groupPids(d), "SIGKILL");
    pause(20);
  }
  for (const d of present) {
    try { rmdirSync(d); } catch (e) {
      throw new Error(`could not remove cgroup ${d} (${(e as Error).message}) — processes still in it: ${groupPids(d).join(" ") || "none"}`);
    }
  }
}

/** Groups of this prefix whose creating process is gone, or that this process made before. */
function staleGroups(h: Hierarchies, prefix: string): string[] {
  const pattern = new RegExp(`^${prefix}-(\\d+)-[a-z0-9-]+$`);
  const roots = h.acct && h.acct !== h.cpu ? [h.cpu, h.acct] : [h.cpu];
  return roots.flatMap((root) => readdirSync(root).filter((n) => {
    const m = pattern.exec(n);
    return m !== null && (Number(m[1]) === process.pid || !alive(Number(m[1])));
  }).map((n) => join(root, n)));
}

/** Every process whose process group is pgid, and their descendants (which may have
 * left it with setsid). */
function processTree(pgid: number): number[] {
  const parent = new Map<number, number>();
  const tree = new Set<number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const f = readStat(Number(entry));
    if (!f || f[2] === "Z") continue;
    parent.set(Number(entry), Number(f[3]));
    if (Number(f[4]) === pgid) tree.add(Number(entry));
  }
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) if (tree.has(ppid) && !tree.has(pid)) { tree.add(pid); grew = true; }
  }
  return [...tree];
}

// Sync teardowns of the labs alive in this process, run on Ctrl-C, SIGTERM and exit.
const liveLabs = new Set<() => void>();
function tearDownAll(): void {
  for (const t of [...liveLabs]) {
    // On the way out: say what is left and go on with the other labs.
    try { t(); } catch (e) { process.stderr.write(`lab teardown: ${(e as Error).message}\n`); }
  }
}
function onSignal(signal: NodeJS.Signals): void {
  tearDownAll();
  // Die of the signal as if we had not caught it, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}
const onInt = () => { process.removeListener("SIGINT", onInt); onSignal("SIGINT"); };
const onTerm = () => { process.removeListener("SIGTERM", onTerm); onSignal("SIGTERM"); };
function track(teardown: () => void): void {
  if (liveLabs.size === 0) {
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    process.on("exit", tearDownAll);
  }
  liveLabs.add(teardown);
}
function untrack(teardown: () => void): void {
  liveLabs.delete(teardown);
  if (liveLabs.size === 0) {
    process.removeListener("SIGINT", onInt);
    process.removeListener("SIGTERM", onTerm);
    process.removeListener("exit", tearDownAll);
  }
}

export async function createLabCluster(specs: LabNodeSpec[], opts: LabOptions = {}): Promise<LabCluster> {
  const reason = labPreflight();
  if (reason) throw new Error(reason);
  const prefix = opts.prefix ?? "aidelab";
  const periodUs = opts.periodUs ?? DEFAULT_PERIOD_US;
  if (!Number.isInteger(periodUs) || periodUs < 1_000 || periodUs > 1_000_000) {
    throw new Error(`lab periodUs must be an integer from 1000 to 1000000 µs, got ${periodUs}`);
  }
  if (specs.length === 0) throw new Error("a lab cluster needs at least one node");
  const names = new Set<string>();
  for (const s of specs) {
    if (!/^[a-z0-9][a-z0-9-]{0,23}$/.test(s.name)) throw new Error(`lab node name must be 1-24 lowercase letters, digits or '-', got '${s.name}'`);
    if (names.has(s.name)) throw new Error(`lab node name '${s.name}' is used twice`);
    names.add(s.name);
  }
  const quotaUs = (name: string, cores: number): number => {
    const q = Math.round(cores * periodUs);
    if (!(cores > 0) || q < 1_000) {
      throw new Error(`lab node ${name}: CPU budget ${cores} cores is below the kernel's 1 ms minimum quota per ${periodUs / 1000} ms period — raise the budget to at least ${1_000 / periodUs}, or pass a longer periodUs`);
    }
    return q;
  };
  for (const s of specs) quotaUs(s.name, s.cpuBudget);

  const h = hierarchies() as Hierarchies;
  const acctRoot = h.acct && h.acct !== h.cpu ? h.acct : undefined;
  const accounting = h.acct ? "cpuacct" : "proc-stat";
  // A killed run's leftovers: its processes, then its groups (its namespaces go in createNetnsHosts).
  removeGroups(staleGroups(h, prefix));

  const net: NetnsLab = await createNetnsHosts(specs.length, { prefix, linkRate: opts.linkRate });
  const acctDirs = new Map<LabNode, string>();
  const groupDirs: string[] = [];
  let torn = false;
  const teardownSync = () => {
    if (torn) return;
    torn = true;
    untrack(teardownSync);
    try { removeGroups(groupDirs); } finally { net.teardownSync(); }
  };
  track(teardownSync);

  const nodes: LabNode[] = [];
  try {
    specs.forEach((s, i) => {
      const cgroup = join(h.cpu, `${prefix}-${process.pid}-${s.name}`);
      mkdirSync(cgroup); groupDirs.push(cgroup);
      writeFileSync(join(cgroup, "cpu.cfs_period_us"), String(periodUs));
      writeFileSync(join(cgroup, "cpu.cfs_quota_us"), String(quotaUs(s.name, s.cpuBudget)));
      writeFileSync(join(cgroup, "cpu.shares"), String(LAB_SHARES));
      const node: LabNode = { name: s.name, address: net.hosts[i].address, ns: net.hosts[i].ns, cgroup, budget: s.cpuBudget };
      if (acctRoot) {
        const acct = join(acctRoot, `${prefix}-${process.pid}-${s.name}`);
        mkdirSync(acct); groupDirs.push(acct);
        acctDirs.set(node, acct);
      }
      nodes.push(node);
    });
  } catch (e) {
    teardownSync();
    throw new Error(`could not create the lab's cgroups under ${h.cpu}: ${(e as Error).message}`);
  }

  const own = (node: LabNode): LabNode => {
    if (!nodes.includes(node)) throw new Error(`node ${node.name} is not a node of this lab`);
    return node;
  };
  const groupsOf = (node: LabNode): string[] => [node.cgroup, ...(acctDirs.has(node) ? [acctDirs.get(node)!] : [])];

  const wrapper = (node: LabNode): string[] => {
    const dirs = groupsOf(own(node));
    // The group files arrive as positional arguments ($1, $2), never inside the script:
    // the shell joins them, then becomes the command, so it and all it starts are held
    // to the budget from its first instruction. If a write fails, nothing runs.
    // Reached through this process's root: `ip netns exec` mounts a fresh sysfs over /sys
    // in its own mount namespace, which hides the cgroup mounts below /sys/fs/cgroup.
    const joins = dirs.map((_, i) => `echo $$ > "$${i + 1}"`).join(" && ");
    const files = dirs.map((d) => `/proc/${process.pid}/root${join(d, "cgroup.procs")}`);
    return ["/bin/sh", "-c", `${joins} && shift ${dirs.length} && exec "$@"`, `lab-${node.name}`, ...files];
  };

  const spawn = (node: LabNode, argv: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): LabProcess => {
    if (argv.length === 0) throw new Error("lab spawn needs a command");
    const child: ChildProcess = spawnChild("ip", ["netns", "exec", own(node).ns, ...wrapper(node), ...argv], {
      // Its own process group (ip netns exec execs the wrapper, which execs argv, so the
      // group's id is this pid): stop() finds the whole tree by it, and Ctrl-C at the
      // terminal reaches the lab's teardown rather than each process on its own.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...o.env },
      cwd: o.cwd,
    });
    const { log: output, exited } = watchProcess(child);
    const pid = child.pid ?? -1;
    const stop = async () => {
      if (pid < 0) return;
      const seen = new Set(processTree(pid));
      signalAll([...seen], "SIGTERM");
      const gone = () => {
        for (const p of processTree(pid)) seen.add(p);
        return [...seen].every(dead);
      };
      for (const end = Date.now() + STOP_GRACE_MS; !gone() && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
      for (const end = Date.now() + 5_000; !gone() && Date.now() < end;) {
        signalAll([...seen, ...processTree(pid)], "SIGKILL");
        await new Promise((r) => setTimeout(r, 50));
      }
      await exited;
    };
    return { pid, log: output, exited, stop };
  };

  const cpuSeconds = (node: LabNode): number => {
    own(node);
    const acct = acctRoot ? acctDirs.get(node)! : h.acct ? node.cgroup : undefined;
    if (acct) return Number(readFileSync(join(acct, "cpuacct.usage"), "utf8")) / 1e9;
    return procCpuSeconds(groupPids(node.cgroup));
  };

  return {
    nodes,
    accounting,
    node: (name) => {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new Error(`lab has no node '${name}' (nodes: ${nodes.map((x) => x.name).join(", ")})`);
      return n;
    },
    wrapper,
    spawn,
    setBudget: (node, cores) => {
      writeFileSync(join(own(node).cgroup, "cpu.cfs_quota_us"), String(quotaUs(node.name, cores)));
      node.budget = cores;
    },
    cpuSeconds,
    teardown: async () => {
      if (!torn) await endGroups(groupDirs, 2_000);
      teardownSync();
    },
  };
}

let clockTicks: number | undefined;
/** CPU seconds of these processes and their reaped children, from /proc/<pid>/stat. */
export function procCpuSeconds(pids: number[]): number {
  clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  let ticks = 0;
  for (const p of pids) {
    const f = readStat(p);
    // utime, stime, cutime, cstime: fields 14-17.
    if (f) ticks += Number(f[13]) + Number(f[14]) + Number(f[15]) + Number(f[16]);
  }
  return ticks / clockTicks;
}
