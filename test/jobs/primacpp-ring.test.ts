// prima.cpp cannot be built here, so the ring's arguments are checked against the facts
// read from its source (shared/prima/FLAGS.md) and against the ring's invariants.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { primaCppJob, PrimaRank, PRIMA_DATA_PORT, PRIMA_SIGNAL_PORT, Task } from "../../nomad-jobs";
import { primaArgs } from "./support/fixtures";

const FLAGS_MD = readFileSync(join(__dirname, "..", "..", "..", "shared", "prima", "FLAGS.md"), "utf8");

/** Flags the distributed table of FLAGS.md lists (every alias of each row). */
function primaRingFlags(): Set<string> {
  const table = FLAGS_MD.split("## Distributed flags")[1].split("\n## ")[0];
  const flags = new Set<string>();
  for (const row of table.split("\n").filter((l) => l.startsWith("| `"))) {
    for (const m of row.split("|")[1].matchAll(/`(-[^`]+)`/g)) flags.add(m[1]);
  }
  return flags;
}
// Plain llama.cpp flags prima.cpp inherits from its late-2024 llama.cpp base.
const LLAMA_FLAGS = new Set(["-m", "-t", "-c", "-np", "--host", "--port", "--alias"]);

function argMap(task: Task): Map<string, string | true> {
  const out = new Map<string, string | true>();
  const a = task.Config.args;
  for (let i = 0; i < a.length; i++) {
    if (!a[i].startsWith("-")) throw new Error(`stray value '${a[i]}' in ${task.Name} args`);
    const hasValue = i + 1 < a.length && !a[i + 1].startsWith("-");
    out.set(a[i], hasValue ? a[++i] : true);
  }
  return out;
}

function ring(n: number): PrimaRank[] {
  return Array.from({ length: n }, (_, i) => ({
    node: `aide-${String(i + 1).padStart(2, "0")}`, address: `10.0.${Math.floor(i / 200)}.${(i % 200) + 10}`,
    threads: 2, layers: 1, memoryMB: 1000, cpuMHz: 2000,
  }));
}

describe("prima.cpp ring job", () => {
  const flags = primaRingFlags();

  it("reads the flag table from FLAGS.md (the reference this test trusts)", () => {
    for (const f of ["--world", "--rank", "--master", "--next", "--data-port", "--signal-port", "-lw", "--prefetch"]) expect(flags).toContain(f);
  });

  it.each([1, 3, 4, 32])("builds a consistent ring of %i ranks", (n) => {
    const ranks = n === 3 ? primaArgs().ranks : ring(n);
    const job = primaCppJob(primaArgs({ ranks })).Job;
    expect(job.TaskGroups).toHaveLength(n);
    const seenRanks = new Set<string>();
    const portsByHost = new Map<string, Set<number>>();
    job.TaskGroups.forEach((g, r) => {
      const task = g.Tasks[0];
      const args = argMap(task);
      for (const f of args.keys()) expect(flags.has(f) || LLAMA_FLAGS.has(f)).toBe(true);
      // rank 0 serves the API with llama-server; every other rank runs llama-cli
      expect(task.Config.command).toBe(`/opt/aide/prima/bin/${r === 0 ? "llama-server" : "llama-cli"}`);
      expect(args.get("--world")).toBe(String(n));
      expect(args.get("--rank")).toBe(String(r));
      seenRanks.add(String(args.get("--rank")));
      expect(args.get("--master")).toBe(ranks[0].address);
      expect(args.get("--next")).toBe(ranks[(r + 1) % n].address); // next of the last is the master
      // same bases everywhere: rank r binds base + r
      expect(args.get("--data-port")).toBe(String(PRIMA_DATA_PORT));
      expect(args.get("--signal-port")).toBe(String(PRIMA_SIGNAL_PORT));
      expect(args.get("--prefetch")).toBe(true);
      // -lw on every rank: no rank profiles (fio) and the scheduler (HiGHS) never runs (FLAGS.md, verified)
      expect(args.get("-lw")).toBe(ranks.map((x) => x.layers).join(","));
      // its own node, its own local copy of the model
      expect(g.Constraints).toEqual([{ LTarget: "${node.unique.name}", Operand: "=", RTarget: ranks[r].node }]);
      expect(args.get("-m")).toBe("/var/lib/aide/models/model.gguf");
      // the ports it binds (on all interfaces) are reserved on its host, and unique there
      const reserved = g.Networks![0].ReservedPorts!.map((p) => p.Value!);
      expect(reserved).toEqual([PRIMA_DATA_PORT + r, PRIMA_SIGNAL_PORT + r]);
      const host = portsByHost.get(ranks[r].node) ?? new Set<number>();
      for (const p of reserved) { expect(host.has(p)).toBe(false); host.add(p); }
      portsByHost.set(ranks[r].node, host);
    });
    expect(seenRanks.size).toBe(n);
    const lw = argMap(job.TaskGroups[0].Tasks[0]).get("-lw") as string;
    expect(lw.split(",").map(Number)).toEqual(ranks.map((r) => r.layers));
    // only rank 0 registers the LLM service the agent discovers
    expect(job.TaskGroups.map((g) => g.Tasks[0].Services?.[0]?.Name ?? null)).toEqual(["aide-llm", ...Array(n - 1).fill(null)]);
  });

  it("refuses more than 32 ranks, the most -lw accepts", () => {
    expect(() => primaCppJob(primaArgs({ ranks: ring(33) }))).toThrow(/33 ranks; it takes 1 to 32/);
  });

  it("refuses a node that appears twice in the ring", () => {
    const r = primaArgs().ranks;
    expect(() => primaCppJob(primaArgs({ ranks: [...r, r[1]] }))).toThrow("node aide-02 appears twice");
  });

  it("refuses a rank with no layers (prima.cpp would print 'No layer is assigned to me, exit')", () => {
    const r = primaArgs().ranks;
    expect(() => primaCppJob(primaArgs({ ranks: [r[0], { ...r[1], layers: 0 }] }))).toThrow("layers on aide-02 must be a whole number ≥ 1, got 0");
  });
});
