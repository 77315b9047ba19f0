// llama-bench as a Nomad batch job: measures prompt and generation tokens/s of the
// stack's model on the head node (alone, or with the RPC workers of the llamacpp-rpc
// job) and prints llama-bench's JSON to stdout, where `npm run bench:results` reads it
// back from the allocation's logs.
//
// Over RPC it uses the bench workers the llamacpp-rpc job keeps on each worker node
// (benchRpcServiceName), never the serving ones: a ggml-rpc-server serves one client at a
// time and llama-server holds its workers while it runs, so llama-bench would wait forever.
// The run is bounded all the same, and a bound that fires says what happened.
import { checkCount, checkName, checkPath, LLM_JOB_ID, onNode, rawExecTask, seconds } from "./common";
import { benchRpcServiceName, checkWorkerServiceNames, IDLE_RPC_WORKER_MB, rpcServersTemplate, waitForWorkersTask } from "./llamacpp-rpc";
import { NomadJobSpec } from "./types";

export const BENCH_JOB_ID = "aide-llama-bench";
export const BENCH_TASK = "llama-bench";

export interface LlamaBenchJobArgs {
  datacenters: string[];
  binDir: string;
  modelPath: string;
  modelAlias: string;
  /** The backend this run measures; shown in the results table. */
  backend: string;
  node: string;
  threads: number;
  memoryMB: number;
  cpuMHz: number;
  /** RPC workers of the llamacpp-rpc job, in tensor-split order, with their split. */
  rpc?: { workers: Array<{ node: string; share: number }>; offloadedLayers: number };
  promptTokens?: number;
  genTokens?: number;
  repetitions?: number;
  /** Register it stopped: it runs only when a user re-registers it without Stop. */
  stopped?: boolean;
  /** Seconds the RPC workers have to answer llama-bench's hello (a free worker answers
   * at once; one held by another client never does). Default 60. */
  answerTimeoutSeconds?: number;
  /** Seconds the whole run may take. Default 3600. */
  timeoutSeconds?: number;
}

/** Runs llama-bench ("$@" after the two bounds: argv, never parsed by the shell) with
 * `--progress`, whose first stderr line ("benchmark 1/N: starting") comes right after
 * llama-bench has registered its RPC workers, i.e. after each answered its hello. No line
 * within the first bound: a worker is busy with another client; it is stopped and says so.
 * The whole run is bounded by coreutils `timeout`. A worker lost mid-run (llama-bench
 * killed by SIGPIPE, or llama.cpp's "Remote RPC server crashed") gets a line on the
 * likeliest cause: a bench worker killed for memory. stdout (the JSON) passes untouched;
 * bash's own notice of a killed job (which quotes the script) is kept out of the log.
 * No `${` anywhere: Nomad would interpolate it in args. */
export const BOUNDED_BENCH_SCRIPT = [
  "answer=$1 total=$2; shift 2",
  // in the task's own directory (Nomad removes it with the allocation), else /tmp
  "dir=$NOMAD_TASK_DIR; [ -d \"$dir\" ] || dir=/tmp",
  "seen=$(mktemp -p \"$dir\" llama-bench-seen.XXXXXX) || exit 1",
  "trap 'rm -f \"$seen\"' EXIT",
  // the log is fd 3 from here; bash's own notices of killed jobs go to /dev/null
  "exec 3>&2 2>/dev/null",
  "timeout \"$total\" \"$@\" --progress 2> >(while IFS= read -r line; do",
  "  printf '%s\\n' \"$line\" >&3",
  "  case $line in",
  "    *': starting') echo started >> \"$seen\" ;;",
  "    *'Remote RPC server crashed'*) echo lost >> \"$seen\" ;;",
  "  esac",
  "done) &",
  "bench=$!",
  "waited=0",
  "while ! grep -q started \"$seen\" && kill -0 \"$bench\" 2>/dev/null; do",
  "  if [ \"$waited\" -ge \"$answer\" ]; then",
  "    kill \"$bench\"; wait \"$bench\"",
  `    echo "llama-bench: no answer from the RPC workers within $answer s — a ggml-rpc-server serves one client at a time, and another client holds these (a llama-server, or a second llama-bench run); the bench must use its own workers, the ${benchRpcServiceName("<node>")} services of ${LLM_JOB_ID}: check that nothing else holds them and run ${BENCH_JOB_ID} again" >&3`,
  "    exit 124",
  "  fi",
  "  sleep 1; waited=$((waited + 1))",
  "done",
  "wait \"$bench\"; code=$?",
  "sleep 0.2 # the last lines through the reader",
  `if [ "$code" = 124 ]; then echo "llama-bench: not finished within $total s — stopped (a slow node or a big model: raise the bound, the $total in ${BENCH_JOB_ID}'s args, and run it again)" >&3`,
  // 141: killed by SIGPIPE, writing to a worker that is gone; or llama.cpp said so and aborted
  `elif [ "$code" = 141 ] || grep -q lost "$seen"; then echo "llama-bench: an RPC worker went away mid-run — if Nomad killed a bench worker for memory (nomad alloc status of ${LLM_JOB_ID} shows OOM), it can grow past its ${IDLE_RPC_WORKER_MB} MB reservation only with memory oversubscription on: nomad operator scheduler set-config -memory-oversubscription=true" >&3; fi`,
  "exit \"$code\"",
].join("\n");

export function llamaBenchJob(args: LlamaBenchJobArgs): NomadJobSpec {
  checkPath("llama.cpp binary directory", args.binDir);
  checkPath("model path", args.modelPath);
  checkName("node name", args.node);
  checkName("model alias", args.modelAlias);
  checkCount("threads", args.threads);
  const p = checkCount("prompt tokens", args.promptTokens ?? 128);
  const n = checkCount("generated tokens", args.genTokens ?? 32);
  const r = checkCount("repetitions", args.repetitions ?? 3);
  const answer = checkCount("RPC answer bound (s)", args.answerTimeoutSeconds ?? 60);
  const total = checkCount("bench bound (s)", args.timeoutSeconds ?? 3600);
  const rpc = args.rpc && args.rpc.workers.length > 0 ? args.rpc : undefined;
  if (rpc) for (const w of rpc.workers) checkWorkerServiceNames(w.node);
  const benchWorkers = rpc?.workers.map((w) => w.node) ?? [];

  return {
    Job: {
      ID: BENCH_JOB_ID,
      Name: BENCH_JOB_ID,
      Type: "batch",
      Datacenters: args.datacenters,
      ...(args.stopped ? { Stop: true } : {}),
      Meta: { backend: args.backend, model: args.modelAlias, rpc: rpc ? "yes" : "no" },
      TaskGroups: [{
        Name: "bench",
        Count: 1,
        Constraints: [onNode(args.node)],
        // A benchmark that fails says so in its logs; running it again changes nothing.
        RestartPolicy: { Attempts: 0, Interval: seconds(60), Delay: seconds(5), Mode: "fail" },
        ReschedulePolicy: { Attempts: 0, Unlimited: false },
        // with workers: wait until all are registered (a gap would fail this one-shot run)
        Tasks: [...(rpc ? [waitForWorkersTask(benchWorkers, benchRpcServiceName)] : []), rawExecTask({
          name: BENCH_TASK,
          command: "/bin/bash",
          args: [
            "-c", BOUNDED_BENCH_SCRIPT, BENCH_TASK, String(answer), String(total),
            `${args.binDir}/llama-bench`,
            "-m", args.modelPath,
            "-t", String(args.threads),
            "-p", String(p), // prompt processing: the first-turn cost
            "-n", String(n), // generation: what the user waits for per word
            "-r", String(r),
            "-o", "json", // stdout is one JSON array; progress goes to stderr
            ...(rpc
              ? [
                  // llama-bench has its own parser (no LLAMA_ARG_RPC): Nomad interpolates
                  // an env template's variables into args too (its docs, hashicorp/nomad#2898).
                  "-rpc", "${LLAMA_ARG_RPC}",
                  "-ngl", String(rpc.offloadedLayers),
                  // "/" inside one split: llama-bench reads "," as a list of configurations to compare.
                  "-ts", rpc.workers.map((w) => String(w.share)).join("/"),
                ]
              : []),
          ],
          // the bench workers, not the serving ones: llama-server holds those while it runs
          templates: rpc ? [rpcServersTemplate(benchWorkers, benchRpcServiceName)] : undefined,
          cpuMHz: args.cpuMHz,
          memoryMB: args.memoryMB,
        })],
      }],
    },
  };
}
