// llama-bench as a Nomad batch job: measures prompt and generation tokens/s of the
// stack's model on the head node (alone, or with the RPC workers of the llamacpp-rpc
// job) and prints llama-bench's JSON to stdout, where `npm run bench:results` reads it
// back from the allocation's logs.
import { checkCount, checkName, checkPath, onNode, rawExecTask, seconds } from "./common";
import { rpcServersTemplate, waitForWorkersTask } from "./llamacpp-rpc";
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
}

export function llamaBenchJob(args: LlamaBenchJobArgs): NomadJobSpec {
  checkPath("llama.cpp binary directory", args.binDir);
  checkPath("model path", args.modelPath);
  checkName("node name", args.node);
  checkName("model alias", args.modelAlias);
  checkCount("threads", args.threads);
  const p = checkCount("prompt tokens", args.promptTokens ?? 128);
  const n = checkCount("generated tokens", args.genTokens ?? 32);
  const r = checkCount("repetitions", args.repetitions ?? 3);
  const rpc = args.rpc && args.rpc.workers.length > 0 ? args.rpc : undefined;
  if (rpc) for (const w of rpc.workers) checkName("node name", w.node);

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
        Tasks: [...(rpc ? [waitForWorkersTask(rpc.workers.map((w) => w.node))] : []), rawExecTask({
          name: BENCH_TASK,
          command: `${args.binDir}/llama-bench`,
          args: [
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
          templates: rpc ? [rpcServersTemplate(rpc.workers.map((w) => w.node))] : undefined,
          cpuMHz: args.cpuMHz,
          memoryMB: args.memoryMB,
        })],
      }],
    },
  };
}
