// npm run bench:llm — what the CPU profile and the RPC split cost, measured in one run on
// one generated, memory-bound model (~230 MB of Q4_0, like a real small model):
//   1. llama-bench -o json for the core2, sse2 and native builds: prompt processing and
//      generation tokens/s, and their ratios to native;
//   2. llama-server alone vs llama-server + 2 ggml-rpc-server workers on loopback (core2
//      build): generation tokens/s from the server's own timings, and the ratio;
//   3. flash attention on and off (core2 build, the lab's Qwen2.5-1.5B stand-in): a turn's
//      13-token prompt and generation with 0-1000 tokens of conversation already cached —
//      llama-server turns it on by default, and a CPU without F16C pays for it.
// Builds the sse2/native profiles first if they are missing (about 5 minutes each).
//
//   npm run bench:llm [-- --threads N] [--repeats N] [--gen N] [--only flash-attn]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { LlamaProfile, llamaBinary, llamaPrefix, RunningProcess, startLlamaServer, startRpcWorker } from "../../lib/llama";
import { ensureBenchModel } from "../models/tiny";
import { ensureStandIn } from "../models/standins";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a whole number ≥ 1`);
  return v;
};
const THREADS = arg("threads", 2);
const REPEATS = arg("repeats", 3);
const GEN = arg("gen", 32);
const PROMPT = 64;

interface BenchRow { n_prompt: number; n_gen: number; avg_ts: number; stddev_ts: number }
interface Rates { pp: number; tg: number }

function ensureBuild(profile: LlamaProfile): void {
  if (existsSync(join(llamaPrefix(profile), "bin", "llama-bench"))) return;
  console.log(`bench: building the ${profile} profile first (about 5 minutes on 2 cores)`);
  execFileSync("bash", [resolve(__dirname, "..", "build-llama.sh"), "--profile", profile], { stdio: "inherit" });
}

function llamaBench(profile: LlamaProfile, model: string, extra: string[] = []): Rates {
  const r = spawnSync(llamaBinary("llama-bench", profile), [
    "-m", model, "-p", String(PROMPT), "-n", String(GEN), "-t", String(THREADS), "-r", String(REPEATS), "-o", "json", ...extra,
  ], { encoding: "utf8", timeout: 900_000 });
  if (r.error || r.status !== 0) throw new Error(`llama-bench (${profile}) failed: ${r.error?.message ?? r.stderr.trim().split("\n").pop()}`);
  const rows = JSON.parse(r.stdout) as BenchRow[];
  return { pp: rows.find((x) => x.n_prompt > 0)!.avg_ts, tg: rows.find((x) => x.n_gen > 0)!.avg_ts };
}

/** One answer's generation tokens/s, as llama-server reports it. */
async function generationRate(server: RunningProcess, i: number): Promise<number> {
  const res = await fetch(`${server.url}/completion`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: `Question ${i}: what do you see on the table today?`, n_predict: GEN, temperature: 0, cache_prompt: false }),
    signal: AbortSignal.timeout(600_000),
  });
  return ((await res.json()) as { timings: { predicted_per_second: number } }).timings.predicted_per_second;
}

const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
if (ONLY !== undefined && ONLY !== "flash-attn") throw new Error(`--only takes flash-attn (the other parts need each other's builds), not ${ONLY}`);

interface DepthRow { n_prompt: number; n_gen: number; n_depth?: number; flash_attn?: boolean | number; avg_ts: number }

/** Part 3: flash attention on/off at the depths a conversation reaches. */
async function flashAttention(): Promise<void> {
  const model = await ensureStandIn("qwen2.5-1.5b", (l) => console.log(`bench: ${l}`));
  const depths = [0, 300, 550, 1000];
  const r = spawnSync(llamaBinary("llama-bench", "core2"), [
    "-m", model, "-p", "13", "-n", "8", "-d", depths.join(","), "-fa", "0,1", "-t", String(THREADS), "-r", String(REPEATS), "-o", "json",
  ], { encoding: "utf8", timeout: 1_800_000 });
  if (r.error || r.status !== 0) throw new Error(`llama-bench (flash attention) failed: ${r.error?.message ?? r.stderr.trim().split("\n").pop()}`);
  const rows = JSON.parse(r.stdout) as DepthRow[];
  const rate = (fa: boolean, depth: number, gen: boolean) => rows.find((x) => Boolean(x.flash_attn) === fa && (x.n_depth ?? 0) === depth && (gen ? x.n_gen > 0 : x.n_prompt > 0))?.avg_ts ?? NaN;
  console.log("\nflash attention, core2 build, Qwen2.5-1.5B stand-in, tokens/s (a 13-token turn, 8 generated) at each depth of cached conversation");
  console.log("depth   pp fa-off   pp fa-on   off/on   tg fa-off   tg fa-on   off/on");
  for (const d of depths) {
    const [ppOff, ppOn, tgOff, tgOn] = [rate(false, d, false), rate(true, d, false), rate(false, d, true), rate(true, d, true)];
    console.log(`${String(d).padStart(5)} ${f(ppOff)}  ${f(ppOn)} ${f(ppOff / ppOn)}  ${f(tgOff)}  ${f(tgOn)} ${f(tgOff / tgOn)}`);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const f = (x: number) => x.toFixed(2).padStart(9);

async function main(): Promise<void> {
  console.log(`bench: threads=${THREADS} repeats=${REPEATS} prompt=${PROMPT} gen=${GEN}`);
  if (ONLY === "flash-attn") return flashAttention();
  const profiles: LlamaProfile[] = ["core2", "sse2", "native"];
  for (const p of profiles) ensureBuild(p);
  const model = await ensureBenchModel();
  console.log(`bench: model ${model}`);

  const rates = {} as Record<LlamaProfile, Rates>;
  for (const p of profiles) {
    rates[p] = llamaBench(p, model);
    console.log(`bench: llama-bench ${p} done`);
  }
  console.log("\nllama-bench, tokens/s (prompt processing pp, generation tg)");
  console.log("profile        pp        tg   pp/native  tg/native");
  for (const p of profiles) {
    console.log(`${p.padEnd(8)}${f(rates[p].pp)} ${f(rates[p].tg)}  ${f(rates[p].pp / rates.native.pp)}  ${f(rates[p].tg / rates.native.tg)}`);
  }
  console.log(`core2 vs sse2 generation: ${(rates.core2.tg / rates.sse2.tg).toFixed(2)}×`);

  const procs: RunningProcess[] = [];
  try {
    // llama-bench gets workers of its own: a ggml-rpc-server serves one client at a
    // time, so it would wait forever behind a llama-server holding the same workers.
    const benchWorkers = [await startRpcWorker({ threads: THREADS }), await startRpcWorker({ threads: THREADS })];
    procs.push(...benchWorkers);
    const rpcBench = llamaBench("core2", model, ["--rpc", benchWorkers.map((w) => w.url).join(","), "-ngl", "999"]);
    await Promise.all(benchWorkers.map((w) => w.stop()));
    console.log("bench: llama-bench core2 with 2 RPC workers done");

    // Both set-ups run at once and are asked in turn (after one warm-up each), so a
    // change in the machine's load hits both alike: this machine is shared and noisy.
    const alone = await startLlamaServer({ model, threads: THREADS, ctxSize: 1024, readyTimeoutMs: 300_000 });
    procs.push(alone);
    const workers = [await startRpcWorker({ threads: THREADS }), await startRpcWorker({ threads: THREADS })];
    procs.push(...workers);
    const head = await startLlamaServer({ model, threads: THREADS, ctxSize: 1024, rpc: workers.map((w) => w.url), readyTimeoutMs: 300_000 });
    procs.push(head);
    await generationRate(alone, 0);
    await generationRate(head, 0);
    const aloneRates: number[] = [];
    const rpcRates: number[] = [];
    for (let i = 1; i <= Math.max(REPEATS, 3); i++) {
      aloneRates.push(await generationRate(alone, i));
      rpcRates.push(await generationRate(head, i));
    }
    const [aloneTg, rpcTg] = [median(aloneRates), median(rpcRates)];
    console.log("\nllama-server generation, core2 build, tokens/s (server timings, median of interleaved runs)");
    console.log(`alone               ${f(aloneTg)}   runs: ${aloneRates.map((x) => x.toFixed(1)).join(" ")}`);
    console.log(`+ 2 RPC workers     ${f(rpcTg)}   runs: ${rpcRates.map((x) => x.toFixed(1)).join(" ")}`);
    console.log(`ratio RPC/alone     ${f(rpcTg / aloneTg)}   (goal ≥ 0.90)`);
    console.log(`llama-bench with --rpc (2 workers): pp ${rpcBench.pp.toFixed(2)} tg ${rpcBench.tg.toFixed(2)}; ` +
      `vs alone: pp ${(rpcBench.pp / rates.core2.pp).toFixed(2)}× tg ${(rpcBench.tg / rates.core2.tg).toFixed(2)}×`);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
  await flashAttention();
}

main().catch((e) => { console.error(`bench:llm: ${(e as Error).message}`); process.exit(1); });
