// An emulated-cluster run leaves nothing on the machine: no network namespace, no
// cgroup, no process — whether it tears down normally, is stopped with Ctrl-C, or is
// SIGKILLed halfway (then the next run with the same prefix removes what it left).
// @needs root, netns
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLabCluster } from "../../scripts/lab/cluster";

const FIXTURE = join(__dirname, "fixtures", "lab-with-busy-node.ts");

/** Namespaces and cgroups (cpu and cpuacct hierarchies) named for prefix and pid. */
function leftovers(prefix: string, pid: number): string[] {
  const mine = (n: string) => n.startsWith(`${prefix}-${pid}-`);
  const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((l) => l.split(" ")[0]).filter(mine);
  const groups = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct"].flatMap((root) => readdirSync(root).filter(mine).map((n) => join(root, n)));
  return [...namespaces, ...groups];
}

/** Running, i.e. neither gone nor a zombie waiting for its parent. */
function running(pid: number): boolean {
  try { return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1][0] !== "Z"; } catch { return false; }
}

async function startRun(prefix: string): Promise<{ child: ChildProcess; pids: number[]; exit: Promise<NodeJS.Signals | number | null> }> {
  const child = spawn(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), FIXTURE, prefix], { stdio: ["ignore", "pipe", "inherit"] });
  const exit = new Promise<NodeJS.Signals | number | null>((r) => child.once("exit", (code, signal) => r(signal ?? code)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error("the lab run printed nothing within 30 s")), 30_000);
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("\n")) { clearTimeout(t); resolve(out.split("\n")[0]); }
    });
    void exit.then((how) => { clearTimeout(t); reject(new Error(`the lab run exited (${how}) before it was ready`)); });
  });
  return { child, pids: (JSON.parse(line) as { pids: number[] }).pids, exit };
}

describe("what an emulated-cluster run leaves behind", () => {
  it("after a SIGKILL halfway: everything, until the next run with its prefix removes it", async () => {
    const run = await startRun("labkill");
    const pid = run.child.pid!;
    expect(run.pids).toHaveLength(2); // the shell and its busy subshell, both in the node's group
    run.child.kill("SIGKILL");
    expect(await run.exit).toBe("SIGKILL");
    // A SIGKILLed run cleans nothing: its two namespaces (switch, node), its two groups,
    // and its busy processes are all still there.
    expect(leftovers("labkill", pid)).toHaveLength(4);
    for (const p of run.pids) expect(running(p)).toBe(true);

    const next = await createLabCluster([{ name: "n1", cpuBudget: 0.1 }], { prefix: "labkill" });
    try {
      expect(leftovers("labkill", pid)).toEqual([]);
      for (const p of run.pids) expect(running(p)).toBe(false);
      expect(leftovers("labkill", process.pid)).toHaveLength(4); // the new run's own
    } finally {
      await next.teardown();
    }
    expect(leftovers("labkill", process.pid)).toEqual([]);
  });

  it("after Ctrl-C: nothing, and the run still dies of the signal", async () => {
    const run = await startRun("labint");
    const pid = run.child.pid!;
    expect(leftovers("labint", pid)).toHaveLength(4);
    run.child.kill("SIGINT");
    expect(await run.exit).toBe("SIGINT");
    expect(leftovers("labint", pid)).toEqual([]);
    for (const p of run.pids) expect(running(p)).toBe(false);
  });

  it("after a normal teardown: nothing, not even a process started in a node without its wrapper", async () => {
    const lab = await createLabCluster([{ name: "a", cpuBudget: 0.1 }, { name: "b", cpuBudget: 0.1 }], { prefix: "labdown" });
    const busy = lab.spawn(lab.node("a"), ["/bin/sh", "-c", "(while :; do :; done) & wait"]);
    // Ignores SIGTERM, so teardown has to escalate to SIGKILL.
    const stubborn = lab.spawn(lab.node("b"), ["/bin/sh", "-c", "trap '' TERM; (trap '' TERM; sleep 600) & wait"]);
    const stray = spawn("ip", ["netns", "exec", lab.node("b").ns, "sleep", "600"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 300));
    const pids = [busy.pid, stubborn.pid, stray.pid!, ...readFileSync(join(lab.node("a").cgroup, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number)];
    for (const p of pids) expect(running(p)).toBe(true);

    await lab.teardown();
    expect(leftovers("labdown", process.pid)).toEqual([]);
    for (const p of pids) expect(running(p)).toBe(false);
    expect(await busy.exited).toBe("SIGTERM");
    expect(await stubborn.exited).toBe("SIGKILL");
  });
});
