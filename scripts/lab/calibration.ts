// How much of this machine's CPU makes one emulated Core 2 Duo node, anchored to a
// published measurement of a real Core 2 and checked against a second one.
//
// The anchor: a Dell Optiplex 780 with a Core 2 Quad Q8400 (4 cores, 2.66 GHz, 1333 MT/s
// FSB) generated 1.09 tokens/s with Llama 3.2 3B (geerlingguy/ai-benchmarks README,
// "Llama 3.2:3b" table; full runs in its issue #31), and 4.04 tokens/s with TinyLlama
// 1.1B in the same issue — both with Ollama (the repository's obench.sh: `ollama run`
// eval rate, i.e. generation), Ollama's default tags: llama3.2:3b is Q4_K_M, tinyllama
// is Q4_0. Ollama runs ggml's CPU backend in the variant the CPU supports; the Q8400 has
// SSSE3 and SSE4.1 but no SSE4.2, so it ran ggml's baseline x86-64 variant (SSE2 only):
// our `sse2` build profile is that code. Ollama uses one thread per physical core: 4.
//
// A Core 2 Duo has two of the Quad's four cores on the same kind of bus, and generation
// there is compute-bound, not memory-bound (1.09 tokens/s × 1.9 GiB of weights is about
// 2.2 GB/s, well under the 1333 MT/s FSB's ~10 GB/s): so a Duo generates at half the
// Quad's rate, 0.545 tokens/s with Llama 3.2 3B and 2.02 with TinyLlama. (A faster-clocked
// Duo such as an E8400 at 3.0 GHz would be ~13 % faster; the lab emulates the Q8400's
// 2.66 GHz cores.)
//
// The budget B of one emulated Duo node (cores of this machine) is found directly at the
// node's own configuration: our sse2 llama-bench with the node's threads generates with a
// Llama 3.2 3B-shaped Q4_K_M stand-in at 0.545 tokens/s. The TinyLlama-shaped Q4_0
// stand-in at the same budget is the cross-check (±30 %, or the bench says it is off).
//
// Threads: a Duo runs llama.cpp with 2 threads on 2 cores. Under a CFS quota below one
// core, two ggml threads take turns on the quota and each spins at the barrier while the
// other waits for it (measured on a tiny model at 0.35 cores: 90 tok/s with 2 threads,
// 459 with 1); so while the node's budget is at most one core here, the lab gives each
// llama.cpp process one thread with the node's whole budget — the same compute, without
// the emulation artefact (labThreads).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { llamaBinary, type LlamaProfile } from "../../lib/llama";

const run = promisify(execFile);

export const ANCHOR = {
  machine: "Dell Optiplex 780, Core 2 Quad Q8400 (4 cores, 2.66 GHz)",
  source: "geerlingguy/ai-benchmarks README and issue #31 (Ollama, obench.sh eval rate)",
  engine: "Ollama: ggml CPU backend, baseline x86-64 variant (no SSE4.2 on a Q8400) = our sse2 profile",
  cores: 4,
  calibration: { model: "llama-3.2-3b", label: "Llama 3.2 3B Q4_K_M", tokS: 1.09 },
  crossCheck: { model: "tinyllama-1.1b", label: "TinyLlama 1.1B Q4_0", tokS: 4.04 },
  /** Within this of the published figure, the cross-check holds. */
  tolerance: 0.3,
} as const;

/** A Core 2 Duo node is two of the Quad's cores. */
export const DUO_CORES = 2;
/** What a Duo node generates, from the Quad's published figure: half of it. */
export const duoTokS = (quadTokS: number): number => (quadTokS * DUO_CORES) / ANCHOR.cores;

/** llama.cpp threads for a node of `budget` cores here (see the header: one thread while
 * the budget is at most one core, else the Duo's two). */
export function labThreads(budget: number): number {
  return budget <= 1 ? 1 : DUO_CORES;
}

export interface BenchRun { model: string; budget: number; threads: number; tokS: number; profile: LlamaProfile }

export interface Calibration {
  /** Cores of this machine that equal the whole Q8400 (twice a node). */
  quadBudget: number;
  /** Cores of this machine one emulated Core 2 Duo node gets. */
  nodeBudget: number;
  runs: BenchRun[];
  crossCheck: BenchRun & { published: number; ratio: number; ok: boolean };
}

/** Generation tokens/s of llama-bench inside `wrapper` (a CPU budget). */
export async function generationSpeed(model: string, opts: { wrapper: string[]; threads: number; tokens?: number; profile?: LlamaProfile }): Promise<number> {
  const bench = llamaBinary("llama-bench", opts.profile ?? "sse2");
  const argv = [...opts.wrapper, bench, "-m", model, "-p", "0", "-n", String(opts.tokens ?? 8), "-r", "1", "-t", String(opts.threads), "-o", "json"];
  const { stdout } = await run(argv[0], argv.slice(1), { maxBuffer: 16 << 20, timeout: 15 * 60_000 });
  const rows = JSON.parse(stdout.slice(stdout.indexOf("["))) as { avg_ts: number; n_gen: number }[];
  const tg = rows.find((r) => r.n_gen > 0);
  if (!tg) throw new Error(`llama-bench printed no generation result for ${model}`);
  return tg.avg_ts;
}

/**
 * Finds the node budget: measure, then aim at the target by the secant through the last
 * two runs (proportional scaling from the first one), at most four runs; the budget kept
 * is the measured run closest to the target, so every printed budget was really run.
 * Then the cross-check at that budget.
 */
export async function calibrate(opts: {
  models: { calibration: string; crossCheck: string };
  /** Runs `fn` with a wrapper that holds its process tree to `budget` cores. */
  withBudget: <T>(budget: number, fn: (wrapper: string[]) => Promise<T>) => Promise<T>;
  maxBudget: number;
  log: (line: string) => void;
}): Promise<Calibration> {
  const runs: BenchRun[] = [];
  const target = duoTokS(ANCHOR.calibration.tokS);
  // Starts where this machine's runs have landed (~1.2-1.3 cores).
  let budget = Math.min(1.25, opts.maxBudget);
  for (let i = 0; i < 4; i++) {
    const threads = labThreads(budget);
    const tokS = await opts.withBudget(budget, (wrapper) => generationSpeed(opts.models.calibration, { wrapper, threads, tokens: 12 }));
    runs.push({ model: ANCHOR.calibration.label, budget, threads, tokS, profile: "sse2" });
    opts.log(`calibration run ${i + 1}: ${ANCHOR.calibration.label} stand-in, sse2 build, ${threads} thread(s), budget ${budget.toFixed(3)} cores → ${tokS.toFixed(3)} tok/s (a Duo: ${target.toFixed(3)})`);
    if (Math.abs(tokS / target - 1) <= 0.04) break;
    const [a, b] = runs.slice(-2);
    let next = budget * (target / tokS);
    if (runs.length >= 2 && b.tokS !== a.tokS) {
      const secant = a.budget + ((target - a.tokS) * (b.budget - a.budget)) / (b.tokS - a.tokS);
      if (secant > 0.1) next = secant;
    }
    if (next > opts.maxBudget) {
      throw new Error(`calibration: one Core 2 Duo node would need ${next.toFixed(2)} cores of this machine, more than the ${opts.maxBudget} a node may have — the lab cannot emulate it here`);
    }
    budget = next;
  }
  const best = [...runs].sort((x, y) => Math.abs(x.tokS - target) - Math.abs(y.tokS - target))[0];
  budget = best.budget;
  const threads = labThreads(budget);
  const tokS = await opts.withBudget(budget, (wrapper) => generationSpeed(opts.models.crossCheck, { wrapper, threads, tokens: 12 }));
  const published = duoTokS(ANCHOR.crossCheck.tokS);
  const ratio = tokS / published;
  const crossCheck = { model: ANCHOR.crossCheck.label, budget, threads, tokS, profile: "sse2" as const, published, ratio, ok: Math.abs(ratio - 1) <= ANCHOR.tolerance };
  return { quadBudget: (budget * ANCHOR.cores) / DUO_CORES, nodeBudget: budget, runs, crossCheck };
}

export function describeCalibration(c: Calibration): string[] {
  const kept = c.runs.find((r) => r.budget === c.nodeBudget);
  return [
    `calibration anchor: ${ANCHOR.machine} — ${ANCHOR.calibration.label} at ${ANCHOR.calibration.tokS} tok/s generation (${ANCHOR.source}; ${ANCHOR.engine}); a Core 2 Duo = 2 of its 4 cores on the same kind of FSB = ${duoTokS(ANCHOR.calibration.tokS).toFixed(3)} tok/s (generation there is compute-bound)`,
    ...c.runs.map((r, i) => `  run ${i + 1}: budget ${r.budget.toFixed(3)} cores of this machine, ${r.threads} thread(s) → ${r.tokS.toFixed(3)} tok/s`),
    kept ? `  one emulated Core 2 Duo node = ${c.nodeBudget.toFixed(3)} cores of this machine (its run: ${kept.tokS.toFixed(3)} vs ${duoTokS(ANCHOR.calibration.tokS).toFixed(3)} tok/s, ${((kept.tokS / duoTokS(ANCHOR.calibration.tokS) - 1) * 100).toFixed(0)} %); factor: one Core 2 core (Q8400, 2.66 GHz) = ${(c.nodeBudget / DUO_CORES).toFixed(3)} cores here; the whole Q8400 = ${c.quadBudget.toFixed(3)}` : `  one emulated node = ${c.nodeBudget.toFixed(3)} cores of this machine (given, not calibrated in this run)`,
    Number.isNaN(c.crossCheck.ratio)
      ? "  cross-check: not run"
      : `  cross-check: ${c.crossCheck.model} stand-in at that budget → ${c.crossCheck.tokS.toFixed(3)} tok/s vs ${c.crossCheck.published.toFixed(3)} (half the Quad's published ${ANCHOR.crossCheck.tokS}) = ${(c.crossCheck.ratio * 100).toFixed(0)} % — ${c.crossCheck.ok ? `within ±${ANCHOR.tolerance * 100} %` : `OFF: outside ±${ANCHOR.tolerance * 100} %, the emulation is not trustworthy for this model class`}`,
  ];
}

/** One short line to print beside every figure. */
export function calibrationNote(c: Calibration): string {
  return `1 node = ${c.nodeBudget.toFixed(3)} cores here (Q8400 anchor ${ANCHOR.calibration.tokS} tok/s${Number.isNaN(c.crossCheck.ratio) ? ", not calibrated in this run" : `; cross-check ${(c.crossCheck.ratio * 100).toFixed(0)} %${c.crossCheck.ok ? "" : " OFF"}`})`;
}
