// Shows the llama-bench job's results as a table: reads each finished allocation's
// stdout from Nomad (GET /v1/client/fs/logs/:alloc_id), parses llama-bench's JSON, and
// labels each run with the backend and model the stack had when it ran — so runs of
// different backends and models line up for comparison.
//
//   npm run bench:results                 # Nomad at $NOMAD_ADDR (default http://127.0.0.1:4646)
//   NOMAD_TOKEN=… NOMAD_CACERT=ca.pem NOMAD_ADDR=https://192.168.1.101:4646 npm run bench:results
//   npm run bench:results -- --local      # no cluster: the job's own llama-bench command on this
//                                         # machine, alone and over two loopback RPC workers
import { execFile } from "node:child_process";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { nomadRequest, NomadConnection } from "../infra/nomad-job";
import { BENCH_JOB_ID, BENCH_TASK, llamaBenchJob, LlamaBenchJobArgs } from "../nomad-jobs";
import { llamaBinary, startRpcWorker } from "../lib/llama";
import { ensureBenchModel } from "./models/tiny";

export interface BenchResult {
  /** llama-bench's test name: pp<N> (prompt processing) or tg<N> (generation). */
  test: string;
  nPrompt: number;
  nGen: number;
  modelType: string;
  modelSizeBytes: number;
  /** Where the layers ran: "CPU", or "RPC" when they went to the workers. */
  backend: string;
  threads: number;
  gpuLayers: number;
  tensorSplit: string;
  tokensPerSecond: number;
  stddevTokensPerSecond: number;
}

interface LlamaBenchRecord {
  model_type: string; model_size: number; backends: string; n_threads: number; n_gpu_layers: number;
  tensor_split: string; n_prompt: number; n_gen: number; avg_ts: number; stddev_ts: number;
}

const REQUIRED: Array<keyof LlamaBenchRecord> = ["model_type", "model_size", "backends", "n_threads", "n_prompt", "n_gen", "avg_ts", "stddev_ts"];

/** llama-bench `-o json` stdout → results. The JSON array starts at a line holding "[";
 * when a task ran more than once the log holds several, and the last one counts. */
export function parseBenchOutput(stdout: string): BenchResult[] {
  const starts = [...stdout.matchAll(/^\[\s*$/gm)].map((m) => m.index!);
  if (!starts.length) throw new Error(`llama-bench output holds no JSON array (was it run with -o json?): ${stdout.slice(0, 200)}`);
  const text = stdout.slice(starts[starts.length - 1]);
  const end = text.search(/^\]\s*$/m);
  if (end < 0) throw new Error("llama-bench output ends inside its JSON array: the run was cut short (see the allocation's stderr)");
  let records: unknown;
  try {
    records = JSON.parse(text.slice(0, end + 1));
  } catch (e) {
    throw new Error(`llama-bench output is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(records)) throw new Error("llama-bench output is not a JSON array");
  return records.map((r: LlamaBenchRecord, i) => {
    const missing = REQUIRED.filter((k) => r?.[k] === undefined);
    if (missing.length) throw new Error(`llama-bench result ${i} lacks ${missing.join(", ")}: not llama-bench -o json output`);
    return {
      test: r.n_gen > 0 && r.n_prompt > 0 ? `pp${r.n_prompt}+tg${r.n_gen}` : r.n_gen > 0 ? `tg${r.n_gen}` : `pp${r.n_prompt}`,
      nPrompt: r.n_prompt,
      nGen: r.n_gen,
      modelType: r.model_type,
      modelSizeBytes: r.model_size,
      backend: r.backends,
      threads: r.n_threads,
      gpuLayers: r.n_gpu_layers ?? 0,
      tensorSplit: r.tensor_split ?? "",
      tokensPerSecond: r.avg_ts,
      stddevTokensPerSecond: r.stddev_ts,
    };
  });
}

export interface BenchRun {
  allocId: string;
  node: string;
  finishedAt?: Date;
  stackBackend: string;
  model: string;
  status: string;
  results: BenchResult[];
  error?: string;
}

interface AllocStub { ID: string; NodeName?: string; JobVersion?: number; ClientStatus: string; ModifyTime?: number; TaskStates?: Record<string, { Events?: Array<{ Type?: string; DisplayMessage?: string }> }> }

/** Every finished run of the bench job, oldest first. */
export async function fetchBenchRuns(conn: NomadConnection, jobId = BENCH_JOB_ID): Promise<BenchRun[]> {
  const id = encodeURIComponent(jobId);
  const allocs = await nomadRequest<AllocStub[]>(conn, "GET", `/job/${id}/allocations`);
  const versions = await nomadRequest<{ Versions?: Array<{ Version?: number; Meta?: Record<string, string> }> }>(conn, "GET", `/job/${id}/versions`)
    .catch(() => ({ Versions: [] }));
  const metaOf = (v?: number) => versions.Versions?.find((j) => j.Version === v)?.Meta ?? {};
  const finished = allocs.filter((a) => a.ClientStatus === "complete" || a.ClientStatus === "failed")
    .sort((a, b) => (a.ModifyTime ?? 0) - (b.ModifyTime ?? 0));
  const runs: BenchRun[] = [];
  for (const a of finished) {
    const meta = metaOf(a.JobVersion);
    const run: BenchRun = {
      allocId: a.ID, node: a.NodeName ?? "?", status: a.ClientStatus,
      finishedAt: a.ModifyTime ? new Date(a.ModifyTime / 1e6) : undefined,
      stackBackend: meta.backend ?? "?", model: meta.model ?? "?", results: [],
    };
    try {
      const stdout = await nomadRequest<string>(conn, "GET",
        `/client/fs/logs/${encodeURIComponent(a.ID)}?task=${BENCH_TASK}&type=stdout&origin=start&offset=0&plain=true`, undefined, "text");
      run.results = parseBenchOutput(stdout);
    } catch (e) {
      const events = Object.values(a.TaskStates ?? {}).flatMap((s) => s.Events ?? []).slice(-2).map((e) => `${e.Type}: ${e.DisplayMessage ?? ""}`);
      run.error = `${(e as Error).message}${events.length ? ` (${events.join("; ")})` : ""}`;
    }
    runs.push(run);
  }
  return runs;
}

/** A plain-text table: one row per test of each run. */
export function formatBenchTable(runs: BenchRun[]): string {
  if (!runs.length) return `no finished ${BENCH_JOB_ID} runs yet — the job runs after \`pulumi up\`; see: nomad job status ${BENCH_JOB_ID}`;
  const header = ["finished (UTC)", "node", "stack backend", "model", "model type", "size MiB", "layers on", "threads", "test", "tokens/s"];
  const rows: string[][] = [];
  for (const run of runs) {
    const when = run.finishedAt ? run.finishedAt.toISOString().slice(0, 16).replace("T", " ") : "?";
    if (run.error) {
      rows.push([when, run.node, run.stackBackend, run.model, "—", "—", "—", "—", run.status, `error: ${run.error}`]);
      continue;
    }
    for (const r of run.results) {
      rows.push([
        when, run.node, run.stackBackend, run.model, r.modelType, (r.modelSizeBytes / 2 ** 20).toFixed(1),
        r.backend === "RPC" || r.backend.includes("RPC") ? `RPC (${r.gpuLayers} layers, split ${r.tensorSplit})` : r.backend,
        String(r.threads), r.test, `${r.tokensPerSecond.toFixed(2)} ± ${r.stddevTokensPerSecond.toFixed(2)}`,
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The bench job's own command line, run here: once on this machine alone, once with its
 * layers on two RPC workers on loopback (the workers as the llamacpp-rpc job starts them). */
export async function localBenchRuns(): Promise<BenchRun[]> {
  const args: LlamaBenchJobArgs = {
    datacenters: ["dc1"], binDir: dirname(llamaBinary("llama-bench")), modelPath: await ensureBenchModel(), modelAlias: "aide-bench-q4-0",
    backend: "llamacpp-rpc", node: "this-machine", threads: 2, memoryMB: 512, cpuMHz: 4000, promptTokens: 64, genTokens: 16, repetitions: 2,
  };
  const run = async (spec: ReturnType<typeof llamaBenchJob>, rpcList?: string): Promise<BenchRun> => {
    const task = spec.Job.TaskGroups[0].Tasks.find((t) => !t.Lifecycle)!; // not the wait-for-workers prestart
    // what Nomad does with the env template's variable in the args
    const argv = task.Config.args.map((a) => (a === "${LLAMA_ARG_RPC}" ? rpcList ?? "" : a));
    const { stdout } = await promisify(execFile)(task.Config.command, argv, { maxBuffer: 16 << 20, timeout: 600_000 });
    return { allocId: "-", node: "this machine", stackBackend: "llamacpp-rpc", model: args.modelAlias, status: "complete", finishedAt: new Date(), results: parseBenchOutput(stdout) };
  };
  const runs = [await run(llamaBenchJob(args))];
  const workers = [await startRpcWorker({ threads: 1 }), await startRpcWorker({ threads: 1 })];
  try {
    const rpc = { workers: [{ node: "worker-1", share: 1 }, { node: "worker-2", share: 2 }], offloadedLayers: 7 };
    runs.push(await run(llamaBenchJob({ ...args, threads: 1, rpc }), workers.map((w) => w.url).join(",")));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  return runs;
}

if (require.main === module && process.argv.includes("--local")) {
  localBenchRuns()
    .then((runs) => console.log(formatBenchTable(runs)))
    .catch((e: Error) => {
      console.error(`bench-results --local: ${e.message}`);
      process.exit(1);
    });
} else if (require.main === module) {
  const conn: NomadConnection = {
    address: process.env.NOMAD_ADDR || "http://127.0.0.1:4646",
    token: process.env.NOMAD_TOKEN || undefined,
    caFile: process.env.NOMAD_CACERT || undefined,
    namespace: process.env.NOMAD_NAMESPACE || undefined,
    region: process.env.NOMAD_REGION || undefined,
  };
  fetchBenchRuns(conn, process.argv[2] || BENCH_JOB_ID)
    .then((runs) => console.log(formatBenchTable(runs)))
    .catch((e: Error) => {
      console.error(`bench-results: ${e.message}`);
      process.exit(1);
    });
}
