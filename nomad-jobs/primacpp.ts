// The prima.cpp backend: a ring of ranks, one group per rank pinned to its node, in the
// order of the stack's node list. Rank 0 runs `llama-server` (the API), the others
// `llama-cli`. Every flag below is checked against shared/prima/FLAGS.md (read from
// prima.cpp's source at bdf9d8e) by test/jobs/primacpp-ring.test.ts.
import {
  checkCount, checkLlmServingArgs, httpPortOf, checkName, llmJob, llmService, LlmServingArgs, minutes, onNode, rawExecTask,
  SERVER_RESTART,
} from "./common";
import { NomadJobSpec, TaskGroup } from "./types";

/** `-lw` takes at most 32 values (prima.cpp common/arg.cpp). */
export const PRIMA_MAX_RANKS = 32;
/** prima.cpp's defaults; every rank must use the same bases (rank r listens on base + r). */
export const PRIMA_DATA_PORT = 9000;
export const PRIMA_SIGNAL_PORT = 10000;

export interface PrimaRank {
  node: string;
  /** The node's cluster address: ranks dial each other directly (ZeroMQ), not via Nomad. */
  address: string;
  threads: number;
  /** Layers this rank holds (`-lw`, from the planner). */
  layers: number;
  memoryMB: number;
  cpuMHz: number;
}

/** binDir holds prima.cpp's llama-server and llama-cli; every rank reads its own local
 * copy of the model at modelPath. */
export interface PrimaCppJobArgs extends LlmServingArgs {
  /** Ring order: rank r is ranks[r]; rank 0 serves the API. */
  ranks: PrimaRank[];
  /** Prefetch layer weights from disk ahead of use (`--prefetch`). */
  prefetch?: boolean;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export function primaCppJob(args: PrimaCppJobArgs): NomadJobSpec {
  checkLlmServingArgs(args, "prima.cpp");
  const world = args.ranks.length;
  if (world < 1 || world > PRIMA_MAX_RANKS) {
    throw new Error(`prima.cpp ring: ${world} ranks; it takes 1 to ${PRIMA_MAX_RANKS} (its -lw holds at most ${PRIMA_MAX_RANKS} values) — use fewer nodes for the LLM`);
  }
  const seen = new Set<string>();
  for (const r of args.ranks) {
    checkName("node name", r.node);
    checkCount(`threads on ${r.node}`, r.threads);
    checkCount(`layers on ${r.node}`, r.layers);
    if (!IPV4.test(r.address)) throw new Error(`prima.cpp ring: node ${r.node} has address '${r.address}', which is not an IPv4 address`);
    if (seen.has(r.node)) throw new Error(`prima.cpp ring: node ${r.node} appears twice; each node runs one rank`);
    seen.add(r.node);
  }
  const master = args.ranks[0].address;
  const layerWindow = args.ranks.map((r) => String(r.layers)).join(",");

  const groups: TaskGroup[] = args.ranks.map((rank, r) => {
    const next = args.ranks[(r + 1) % world].address; // the last rank's next is rank 0
    const ring = [
      "-m", args.modelPath,
      "-t", String(rank.threads),
      "--world", String(world),
      "--rank", String(r),
      "--master", master,
      "--next", next,
      // Same bases on every rank: rank r binds base + r on all interfaces (no auth —
      // the nodes' firewall admits cluster addresses only).
      "--data-port", String(PRIMA_DATA_PORT),
      "--signal-port", String(PRIMA_SIGNAL_PORT),
      // The planner's split, on every rank: no rank then profiles (the profiler runs fio and
      // writes up to 1 GiB into the task directory) and the Halda scheduler (HiGHS) is skipped.
      "-lw", layerWindow,
      ...(args.prefetch === false ? [] : ["--prefetch"]),
    ];
    const isHead = r === 0;
    const ports = [
      { Label: "data", Value: PRIMA_DATA_PORT + r },
      { Label: "signal", Value: PRIMA_SIGNAL_PORT + r },
    ];
    return {
      Name: `rank-${r}`,
      Count: 1,
      Constraints: [onNode(rank.node)],
      Meta: { rank: String(r), node: rank.node },
      Networks: [isHead
        ? { ...httpPortOf(args), ReservedPorts: [...ports, ...(httpPortOf(args).ReservedPorts ?? [])] }
        : { ReservedPorts: ports }],
      RestartPolicy: SERVER_RESTART,
      Tasks: [rawExecTask({
        name: isHead ? "llama-server" : "llama-cli",
        command: `${args.binDir}/${isHead ? "llama-server" : "llama-cli"}`,
        args: isHead
          ? [
              ...ring,
              "-c", String(args.contextSize * args.parallel),
              "-np", String(args.parallel),
              "--host", "${NOMAD_IP_http}",
              "--port", "${NOMAD_PORT_http}",
              "--alias", args.modelAlias,
            ]
          : ring,
        services: isHead ? [llmService("primacpp", args.modelAlias, minutes(10))] : undefined,
        cpuMHz: rank.cpuMHz,
        memoryMB: rank.memoryMB,
      })],
    };
  });

  // A ring is all or nothing: replace every rank together.
  return llmJob("primacpp", args, groups, world);
}
