// npm run bench:llm — what the CPU profile and the RPC split cost, measured in one run on
// one generated, memory-bound model (~230 MB of Q4_0, like a real small model):
//   1. llama-bench -o json for the core2, sse2 and native builds: prompt processing and
//      generation tokens/s, and their ratios to native;
//   2. llama-server alone vs llama-server + 2 ggml-rpc-server workers on loopback (core2
//      build): generation tokens/s from the server's own timings, and the ratio;
//   3. attention on a CPU without F16C (core2 build, the lab's Qwen2.5-1.5B stand-in): a
//      turn's 13-token prompt and generation with 0-1000 tokens of conversation already
//      cached, flash attention on and off (llama-bench; llama-server turns it on by
//      default), then with it off the K/V cache in f16 (llama.cpp's default) and f32
//      (llama-server's own timings, interleaved runs).
// Builds the sse2/native profiles first if they are missing (about 5 minutes each).
//
//   npm run bench:llm [-- --threads N] [--repeats N] [--gen N] [--only flash-attn|kv-cache]
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

/** The lab's Qwen2.5-1.5B stand-in: part 3 measures with the shapes the lab's LLM has. */
const labModel = () => ensureStandIn("qwen2.5-1.5b", (l) => console.log(`bench: ${l}`));

const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
if (ONLY !== undefined && ONLY !== "flash-attn" && ONLY !== "kv-cache") throw new Error(`--only takes flash-attn (part 3) or kv-cache (its second half), not ${ONLY}`);

interface DepthRow { n_prompt: number; n_gen: number; n_depth?: number; flash_attn?: boolean | number; avg_ts: number }

/** Part 3: flash attention on/off at the depths a conversation reaches. */
async function flashAttention(): Promise<void> {
  const model = await labModel();
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
  await kvCacheTypes(model);
}

/** The K/V cache in f16 (llama.cpp's default) and f32 (the jobs' choice), flash attention off as the jobs run llama-server. */
async function kvCacheTypes(model: string): Promise<void> {
  const servers: Record<"f16" | "f32", RunningProcess | undefined> = { f16: undefined, f32: undefined };
  try {
    for (const kv of ["f16", "f32"] as const) {
      servers[kv] = await startLlamaServer({ model, threads: THREADS, ctxSize: 2048, readyTimeoutMs: 300_000, kvCacheType: kv });
    }
    const ask = async (server: RunningProcess, prompt: string, nPredict: number) => {
      const res = await fetch(`${server.url}/completion`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt, n_predict: nPredict, cache_prompt: true, temperature: 0 }), signal: AbortSignal.timeout(600_000),
      });
      return ((await res.json()) as { timings: { prompt_n: number; cache_n: number; prompt_per_second: number; predicted_per_second: number } }).timings;
    };
    console.log("\nK/V cache type, flash attention off, core2 build, tokens/s (a 13-token turn, 8 generated; median of interleaved runs)");
    console.log("depth   pp f16      pp f32    f32/f16   tg f16      tg f32    f32/f16");
    for (const sentences of [20, 40]) {
      const conversation = Array.from({ length: sentences }, (_, i) => `Turn ${i}: the user asked what to cook tonight and the assistant suggested fish with lemon.`).join("\n");
      const primed = await ask(servers.f16!, conversation, 0);
      const depth = primed.prompt_n + primed.cache_n;
      await ask(servers.f32!, conversation, 0);
      const runs: Record<"f16" | "f32", { pp: number; tg: number }[]> = { f16: [], f32: [] };
      for (let i = 0; i < Math.max(REPEATS, 3); i++) {
        for (const kv of ["f16", "f32"] as const) {
          // Diverges from the last run right after the conversation: the turn's ~13 tokens are new.
          const t = await ask(servers[kv]!, `${conversation}\n${i} Turn ${sentences}: and which wine goes with it?`, 8);
          runs[kv].push({ pp: t.prompt_per_second, tg: t.predicted_per_second });
        }
      }
      const pp = (kv: "f16" | "f32") => median(runs[kv].map((r) => r.pp));
      const tg = (kv: "f16" | "f32") => median(runs[kv].map((r) => r.tg));
      console.log(`${String(depth).padStart(5)} ${f(pp("f16"))}  ${f(pp("f32"))} ${f(pp("f32") / pp("f16"))}  ${f(tg("f16"))}  ${f(tg("f32"))} ${f(tg("f32") / tg("f16"))}`);
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s?.stop()));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const f = (x: number) => x.toFixed(2).padStart(9);

async function main(): Promise<void> {
  console.log(`bench: threads=${THREADS} repeats=${REPEATS} prompt=${PROMPT} gen=${GEN}`);
  if (ONLY === "flash-attn") return flashAttention();
  if (ONLY === "kv-cache") return kvCacheTypes(await labModel());
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
