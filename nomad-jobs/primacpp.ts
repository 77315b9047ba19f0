// The prima.cpp backend: a ring of ranks, one group per rank pinned to its node, in the
// order of the stack's node list. Rank 0 runs `llama-server` (the API), the others
// `llama-cli`. Every flag below is checked against shared/prima/FLAGS.md (read from
// prima.cpp's source at bdf9d8e) by test/jobs/primacpp-ring.test.ts.
//
// A real ring whose rank dies stalls with /health still 200, and only restarting every
// rank together recovers it (FLAGS.md, "When a rank dies"): Nomad's check_restart would
// restart rank 0 alone, so rank 0 carries a sidecar, the ring keeper (ring-keeper.mjs),
// that probes "the ring answers" and restarts every rank through Nomad's API.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkCount, checkLlmServingArgs, checkPath, httpPortOf, checkName, llmJob, llmService, LLM_JOB_ID, LlmServingArgs, onNode, rawExecTask,
  SERVER_RESTART,
} from "./common";
import { NomadJobSpec, TaskGroup } from "./types";

/** `-lw` takes at most 32 values (prima.cpp common/arg.cpp). */
export const PRIMA_MAX_RANKS = 32;
/** prima.cpp's defaults; every rank must use the same bases (rank r listens on base + r). */
export const PRIMA_DATA_PORT = 9000;
export const PRIMA_SIGNAL_PORT = 10000;
/** The Nomad agent on every node (infra/scripts/nomad.sh binds its HTTP API on all interfaces, no ACL). */
export const LOCAL_NOMAD_API = "http://127.0.0.1:4646";
/** The keeper's source, shipped inside the job so nodes need nothing installed for it. */
export const RING_KEEPER_SOURCE = readFileSync(join(__dirname, "ring-keeper.mjs"), "utf8");
if (RING_KEEPER_SOURCE.includes("{{")) throw new Error("nomad-jobs/ring-keeper.mjs holds '{{', which Nomad's template engine would interpret");

/**
 * How the keeper decides the ring is gone (seconds). A rank that comes back alone is acted
 * on at the first unanswered probe: ≤ interval + timeout, then the restart policy's 10 s
 * delay — 50 s with the defaults. A ring that stops answering with no rank restarted is
 * restarted after `failures` probes (≤ 2 min): until the lost rank returns, a restart
 * cannot help anyway. The timeout is generous because /slots waits for the batch the
 * server is evaluating, which on a Core 2 ring can take many seconds.
 */
export interface RingCheck {
  intervalS: number;
  timeoutS: number;
  failures: number;
  /** rank 0 may say "Loading model" (503) this long after a (re)start before the ring is restarted again. */
  loadDeadlineS: number;
}
export const DEFAULT_RING_CHECK: RingCheck = { intervalS: 10, timeoutS: 30, failures: 3, loadDeadlineS: 600 };

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
  /** Node.js on every node, which runs the ring keeper. */
  nodeBinary: string;
  ringCheck?: RingCheck;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export function primaCppJob(args: PrimaCppJobArgs): NomadJobSpec {
  checkLlmServingArgs(args, "prima.cpp");
  checkPath("Node.js binary", args.nodeBinary);
  const check = args.ringCheck ?? DEFAULT_RING_CHECK;
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
      Tasks: [...[rawExecTask({
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
        // No check_restart: restarting rank 0 alone leaves it at 503 "Loading model"; the keeper restarts the ring.
        services: isHead ? [llmService("primacpp", args.modelAlias)] : undefined,
        cpuMHz: rank.cpuMHz,
        memoryMB: rank.memoryMB,
        // A healthy ring stops within 6 s of SIGTERM; with a peer gone rank 0 ignores SIGTERM,
        // and Nomad's SIGKILL after the timeout is what stops it (FLAGS.md).
        kill: { signal: "SIGTERM", timeoutS: 10 },
      })], ...(isHead ? [ringKeeper(args, world, check)] : [])],
    };
  });

  // A ring is all or nothing: replace every rank together.
  return llmJob("primacpp", args, groups, world);
}

/** The sidecar of rank 0 that restarts the whole ring when it stops answering. */
function ringKeeper(args: PrimaCppJobArgs, world: number, check: RingCheck) {
  for (const [k, v] of Object.entries(check)) checkCount(`ring check ${k}`, v);
  return rawExecTask({
    name: "ring-keeper",
    command: args.nodeBinary,
    args: ["${NOMAD_TASK_DIR}/ring-keeper.mjs"],
    env: {
      AIDE_LLM_URL: "http://${NOMAD_ADDR_http}",
      AIDE_NOMAD_ADDR: LOCAL_NOMAD_API,
      AIDE_JOB_ID: LLM_JOB_ID,
      AIDE_RING_WORLD: String(world),
      AIDE_PROBE_INTERVAL_S: String(check.intervalS),
      AIDE_PROBE_TIMEOUT_S: String(check.timeoutS),
      AIDE_PROBE_FAILURES: String(check.failures),
      AIDE_LOAD_DEADLINE_S: String(check.loadDeadlineS),
    },
    templates: [{ EmbeddedTmpl: RING_KEEPER_SOURCE, DestPath: "local/ring-keeper.mjs", ChangeMode: "restart" }],
    poststartSidecar: true,
    cpuMHz: 50,
    memoryMB: 64,
  });
}
