// The llama.cpp RPC backend: `ggml-rpc-server` on each worker node, `llama-server` on
// the head. The head holds the first layers on its own CPU and sends the rest, split by
// `--tensor-split`, to the workers it finds through Nomad's service discovery.
// Each worker node also runs a second, idle ggml-rpc-server reserved for llama-bench: a
// ggml-rpc-server serves one client at a time and llama-server holds its workers for as
// long as it runs, so a benchmark sent to them would wait forever.
import {
  checkCount, checkLlmServingArgs, checkName, checkPath, httpPortOf, LLM_SERVICE, llmJob, llmService, LlmServingArgs, minutes,
  NODE_STATE_DIR, onNode, onNodesPreferringFirst, rawExecTask, seconds, SERVER_RESTART,
} from "./common";
import { NomadJobSpec, Resources, Task, TaskGroup, Template } from "./types";

export interface LlamaNodeRole {
  /** Nomad client name of the node (its `name`), e.g. "aide-02". */
  node: string;
  /** Threads llama.cpp uses there (always explicit: its default is all cores). */
  threads: number;
  /** RAM the scheduler reserves for the task. */
  memoryMB: number;
  /** CPU (MHz) the scheduler reserves for the task. */
  cpuMHz: number;
}

/** binDir holds llama-server and ggml-rpc-server; modelPath is on the head only (the
 * workers receive their layers over RPC). */
export interface LlamaCppRpcJobArgs extends LlmServingArgs {
  /**
   * `standby`: other nodes that hold the model and have room to serve it alone. With no
   * workers the head may run on any of them (its own node preferred), so when its desktop
   * dies Nomad moves it there instead of leaving the assistant mute.
   */
  head: LlamaNodeRole & { standby?: string[] };
  /** In `--tensor-split` order; empty when the model runs on the head alone. */
  workers: Array<LlamaNodeRole & { share: number }>;
  /** `-ngl`: layers sent to the workers, counting the output head as one (llama.cpp does;
   * infra/planner.ts llamaCppSplit computes it); the remaining first layers stay on the head. */
  offloadedLayers: number;
  /** Where each worker keeps its tensor cache (`ggml-rpc-server -c`). */
  rpcCacheDir?: string;
  /**
   * The head's host-RAM prompt cache in MiB (`--cache-ram`), inside its memoryMB. Default 0
   * (none): llama-server's own default is 8192 MiB, more than an 8 GB node has, so a caller
   * that knows the head's spare RAM passes it (infra/jobs.ts does, from the layer plan).
   */
  cacheRamMiB?: number;
  /**
   * What the head does when one worker stays gone (infra/planner.ts workerFallbacks: the
   * planner's split over the others, or why there is none). Without it, it waits.
   */
  fallbacks?: WorkerFallback[];
  /** How long a missing worker is waited for before the head plans without it (default 120 s). */
  workerWaitSeconds?: number;
  /** The K/V cache's type the layer plan counted RAM for (its `kvCacheType`); default
   * llama.cpp's own, f16. */
  kvCacheType?: "f16" | "f32";
}

/** What the llama.cpp head does when one RPC worker of its plan stays gone. */
export type WorkerFallback =
  | { missing: string; offloadedLayers: number; tensorSplit: number[] }
  | { missing: string; why: string };

export const rpcServiceName = (node: string): string => `${LLM_SERVICE}-rpc-${node}`;
/** The worker reserved for llama-bench on a node. Its own prefix ("aide-rpc-", not
 * "aide-llm-rpc-"), so no node name can make it collide with a serving worker's name. */
export const benchRpcServiceName = (node: string): string => `aide-rpc-bench-${node}`;
/** The bench worker's dynamic port label. */
export const BENCH_RPC_PORT = "bench_rpc";
/** What an idle ggml-rpc-server needs: it allocates nothing until a client loads a model. */
export const IDLE_RPC_WORKER_MB = 128;

/** A worker's node name ends up in its two service names, which Nomad limits to 63
 * characters (RFC 1123 labels): say so here instead of Nomad refusing the job. */
export function checkWorkerServiceNames(node: string): void {
  checkName("node name", node);
  const longest = [rpcServiceName(node), benchRpcServiceName(node)].sort((a, b) => b.length - a.length)[0];
  if (longest.length > 63) {
    throw new Error(
      `node name '${node}' is too long for an RPC worker: its service '${longest}' has ${longest.length} characters and Nomad allows 63 ` +
        `(rename the node to ${63 - (longest.length - node.length)} characters or fewer in the stack config)`,
    );
  }
}

/** The env template that gives the head its RPC workers, in plan order. One service per
 * worker (not one shared name) because `--tensor-split` is positional: Nomad returns a
 * shared service's instances in its own order. `eq $i 0` keeps one instance per worker
 * while an old and a new allocation are briefly registered together. `service` names the
 * workers: the serving ones (the head's) or the bench's own (benchRpcServiceName). */
export function rpcServersTemplate(workerNodes: string[], service: (node: string) => string = rpcServiceName): Template {
  const entries = workerNodes.map(
    (node) => `{{ range $i, $s := nomadService "${service(node)}" }}{{ if eq $i 0 }}{{ .Address }}:{{ .Port }}{{ end }}{{ end }}`,
  );
  return {
    // llama-server reads --rpc from LLAMA_ARG_RPC (common/arg.cpp `.set_env("LLAMA_ARG_RPC")`).
    EmbeddedTmpl: `LLAMA_ARG_RPC=${entries.join(",")}\n`,
    DestPath: "local/rpc-servers.env",
    Envvars: true,
    // A worker that moves or restarts gets a new port: the head restarts with the new list.
    ChangeMode: "restart",
    Splay: seconds(5),
  };
}

/** Shell function `gaps LIST`: which workers ($AIDE_RPC_WORKERS, in plan order) have an
 * address in the rendered LLAMA_ARG_RPC list → $live (their addresses), $gone (names),
 * $gone_at (1-based positions). No ${...} forms: Nomad interpolates those in task args. */
const RPC_GAPS_SH = [
  "gaps() {",
  "  live=; gone=; gone_at=; n=0",
  "  for w in $AIDE_RPC_WORKERS; do",
  "    n=$((n + 1))",
  "    a=$(printf '%s,\\n' \"$1\" | cut -d, -f\"$n\")",
  "    if [ -n \"$a\" ]; then live=\"$live,$a\"; else gone=\"$gone $w\"; gone_at=\"$gone_at $n\"; fi",
  "  done",
  "  live=$(printf '%s' \"$live\" | sed 's/^,//'); gone=$(echo $gone); gone_at=$(echo $gone_at)",
  "}",
  "rendered() { sed -n 's/^LLAMA_ARG_RPC=//p' local/rpc-servers.env 2>/dev/null; }",
].join("\n");

/** Holds the head back until every worker has registered: llama-server started with a
 * gap in its list aborts ("Failed to parse endpoint"), and a first deploy would otherwise
 * crash-loop it until the workers are up. Reads its own copy of the workers template
 * (Nomad keeps re-rendering it) and prints what it still waits for. With
 * $AIDE_WORKER_WAIT_S it stops waiting after that long, naming who is missing: the head
 * then plans without them if it can. */
export const WAIT_FOR_WORKERS_SCRIPT = [
  RPC_GAPS_SH,
  "waited=0",
  "while :; do",
  "  list=$(rendered)",
  "  case \",$list,\" in *,,*) ;; *) echo \"all RPC workers registered: $list\"; exit 0 ;; esac",
  "  if [ -n \"$AIDE_WORKER_WAIT_S\" ] && [ \"$waited\" -ge \"$AIDE_WORKER_WAIT_S\" ]; then",
  "    gaps \"$list\"; echo \"RPC worker(s) $gone not registered after $waited s: the head starts without them if the model fits on the rest\"; exit 0",
  "  fi",
  "  echo \"waiting for every RPC worker to register (so far: $list)\"",
  "  sleep 3; waited=$((waited + 3))",
  "done",
].join("\n");

export function waitForWorkersTask(workerNodes: string[], service: (node: string) => string = rpcServiceName, waitSeconds?: number): Task {
  return rawExecTask({
    name: "wait-for-rpc-workers",
    command: "/bin/sh",
    args: ["-c", WAIT_FOR_WORKERS_SCRIPT],
    env: { AIDE_RPC_WORKERS: workerNodes.join(" "), ...(waitSeconds !== undefined ? { AIDE_WORKER_WAIT_S: String(waitSeconds) } : {}) },
    templates: [{ ...rpcServersTemplate(workerNodes, service), ChangeMode: "noop" }],
    prestart: true,
    cpuMHz: 20,
    memoryMB: 64,
  });
}

/** Starts llama-server (its path, then its arguments ending with the plan's
 * `-ngl N --tensor-split S`), from local/head.sh (a file, so `pulumi preview` shows the
 * head's arguments, not this script). When
 * one worker is still gone after $AIDE_WORKER_WAIT_S it swaps that split for the one the
 * planner made for the rest ($AIDE_SPLIT_WITHOUT_<position>; "alone": the head by itself),
 * or exits saying which worker is missing and what it needs ($AIDE_WHY_WITHOUT_<position>).
 * Nomad restarts the head when the workers' list changes, so a worker that comes back
 * brings the full plan back. */
export const HEAD_SCRIPT = [
  "prog=$1; shift",
  RPC_GAPS_SH,
  "gaps \"$LLAMA_ARG_RPC\"",
  "waited=0",
  "while [ -n \"$gone\" ] && [ \"$waited\" -lt \"$AIDE_WORKER_WAIT_S\" ]; do",
  "  echo \"waiting for RPC worker(s) $gone\"; sleep 3; waited=$((waited + 3)); gaps \"$(rendered)\"",
  "done",
  "[ -z \"$gone\" ] && exec \"$prog\" \"$@\"",
  "case \"$gone_at\" in",
  "  *' '*) split=; why=\"more than one worker is gone: bring them back\" ;;",
  "  *) eval \"split=\\$AIDE_SPLIT_WITHOUT_$gone_at; why=\\$AIDE_WHY_WITHOUT_$gone_at\" ;;",
  "esac",
  "if [ -z \"$split\" ]; then echo \"RPC worker $gone is gone: $why\" >&2; exit 1; fi",
  "over=$live; [ -n \"$over\" ] || over=\"the head alone\"",
  "echo \"RPC worker $gone is gone: re-planned over the rest ($over): $split\"",
  // drop the plan's last four arguments (-ngl N --tensor-split S)
  "n=$#; i=0",
  "for a do i=$((i + 1)); if [ \"$i\" -le $((n - 4)) ]; then set -- \"$@\" \"$a\"; fi; done",
  "shift \"$n\"",
  "if [ \"$split\" = alone ]; then unset LLAMA_ARG_RPC; exec \"$prog\" \"$@\"; fi",
  "export LLAMA_ARG_RPC=\"$live\"",
  "exec \"$prog\" \"$@\" $split",
].join("\n");

/** Starts the program in "$0" with SIGPIPE ignored (kept across exec): ggml-rpc-server
 * does not ignore it, so a client that went away while queued (a bounded llama-bench
 * stopped while another client held the worker) would kill the worker when it finally
 * answers that client's hello. With it ignored the write fails and the worker carries on. */
export const IGNORE_SIGPIPE = 'trap "" PIPE; exec "$0" "$@"';

/** A ggml-rpc-server bound to the node's cluster address on the given port label,
 * published as `service`, with its threads explicit. */
function rpcWorkerTask(binDir: string, w: LlamaNodeRole, t: {
  name: string; port: string; service: string; tag: string; cacheDir?: string; cpuMHz: number; memoryMB: number;
}): Task {
  return rawExecTask({
    name: t.name,
    command: "/bin/sh",
    args: [
      "-c", IGNORE_SIGPIPE, `${binDir}/ggml-rpc-server`,
      "-H", `\${NOMAD_IP_${t.port}}`, // the node's cluster address, never 0.0.0.0: the RPC protocol has no auth
      "-p", `\${NOMAD_PORT_${t.port}}`, // port chosen by Nomad, published through the service
      "-t", String(w.threads),
      ...(t.cacheDir ? ["-c"] : []),
    ],
    env: t.cacheDir ? { LLAMA_CACHE: t.cacheDir } : undefined,
    services: [{
      Name: t.service,
      PortLabel: t.port,
      Provider: "nomad",
      Tags: [t.tag],
      Checks: [{ Name: "rpc port", Type: "tcp", Interval: seconds(10), Timeout: seconds(2) }],
    }],
    cpuMHz: t.cpuMHz,
    memoryMB: t.memoryMB,
  });
}

/** Reserves the task's (small) MemoryMB for scheduling but lets it grow to maxMB while it
 * works: Nomad ≥ 1.7 caps raw_exec tasks at MemoryMB unless memory oversubscription is on
 * (`nomad operator scheduler set-config -memory-oversubscription=true`), and then at MemoryMaxMB. */
function withMemoryMax(task: Task, maxMB: number): Task {
  const resources: Resources & { MemoryMaxMB: number } = { ...task.Resources, MemoryMaxMB: Math.max(task.Resources.MemoryMB, Math.ceil(maxMB)) };
  return { ...task, Resources: resources };
}

export function llamaCppRpcJob(args: LlamaCppRpcJobArgs): NomadJobSpec {
  checkLlmServingArgs(args, "llama.cpp");
  for (const role of [args.head, ...args.workers]) {
    checkName("node name", role.node);
    checkCount(`threads on ${role.node}`, role.threads);
  }
  for (const w of args.workers) checkWorkerServiceNames(w.node);
  for (const node of args.head.standby ?? []) checkName("standby node name", node);
  // A split head stays put: its workers' layers were sized for this plan.
  const headNodes = args.workers.length === 0 ? [args.head.node, ...(args.head.standby ?? [])] : [args.head.node];
  if (args.workers.length > 0) {
    checkCount("offloaded layers", args.offloadedLayers);
    for (const w of args.workers) {
      if (!(w.share > 0)) throw new Error(`tensor split share of ${w.node} must be > 0, got ${w.share}`);
    }
  }
  const cacheDir = checkPath("RPC tensor cache directory", args.rpcCacheDir ?? `${NODE_STATE_DIR}/llama-rpc-cache`);
  const cacheRamMiB = checkCount("head prompt cache (MiB)", args.cacheRamMiB ?? 0, 0);

  const workerGroups: TaskGroup[] = args.workers.map((w) => ({
    Name: `rpc-${w.node}`,
    Count: 1,
    Constraints: [onNode(w.node)],
    Networks: [{ DynamicPorts: [{ Label: "rpc" }, { Label: BENCH_RPC_PORT }] }],
    RestartPolicy: SERVER_RESTART,
    Tasks: [
      rpcWorkerTask(args.binDir, w, {
        name: "ggml-rpc-server",
        port: "rpc",
        service: rpcServiceName(w.node),
        tag: "llamacpp-rpc-worker",
        cacheDir, // tensor cache on disk: a restarted head re-sends hashes, not gigabytes
        cpuMHz: w.cpuMHz,
        memoryMB: w.memoryMB,
      }),
      // llama-bench's own worker: idle (and nearly free) until a benchmark loads its copy
      // of the layers, which the bench job does only when the node has room for it
      // (infra/jobs.ts). No tensor cache: two servers writing one cache file would race.
      withMemoryMax(rpcWorkerTask(args.binDir, w, {
        name: "ggml-rpc-server-bench",
        port: BENCH_RPC_PORT,
        service: benchRpcServiceName(w.node),
        tag: "llamacpp-rpc-bench-worker",
        cpuMHz: 100, // Nomad's CPU is a share, not a cap: a running benchmark still gets the cores
        memoryMB: IDLE_RPC_WORKER_MB,
      }), w.memoryMB),
    ],
  }));

  const split = args.workers.length > 0
    ? [
        "-ngl", String(args.offloadedLayers), // the last N layers (output head included) go to the RPC workers
        "--tensor-split", args.workers.map((w) => String(w.share)).join(","), // per worker, in LLAMA_ARG_RPC order
      ]
    : [];
  const workerNodes = args.workers.map((w) => w.node);
  const waitSeconds = checkCount("worker wait (s)", args.workerWaitSeconds ?? 120, 0);
  const kvCacheType = args.kvCacheType ?? "f16";
  if (kvCacheType !== "f16" && kvCacheType !== "f32") throw new Error(`K/V cache type ${JSON.stringify(kvCacheType)}: use "f16" or "f32" (the layer plan's kvCacheType)`);
  // One env pair per worker position: the split without it, or why there is none.
  const fallbackEnv: Record<string, string> = {};
  for (const f of args.fallbacks ?? []) {
    const at = workerNodes.indexOf(f.missing) + 1;
    if (at === 0) throw new Error(`fallback for '${f.missing}', which is not one of this job's workers (${workerNodes.join(", ")})`);
    if ("why" in f) fallbackEnv[`AIDE_WHY_WITHOUT_${at}`] = f.why;
    else fallbackEnv[`AIDE_SPLIT_WITHOUT_${at}`] = f.offloadedLayers === 0 ? "alone" : `-ngl ${checkCount("offloaded layers", f.offloadedLayers)} --tensor-split ${f.tensorSplit.join(",")}`;
  }
  const serverArgs = [
    "-m", args.modelPath,
    "--alias", args.modelAlias,
    "--host", "${NOMAD_IP_http}",
    "--port", "${NOMAD_PORT_http}",
    "-t", String(args.head.threads), // explicit: the default would take every core
    "-c", String(args.contextSize * args.parallel), // the context is shared by the slots
    "-np", String(args.parallel),
    "--cache-prompt", // the agent keeps its prompt prefix fixed so each turn evaluates only new tokens
    "--cache-reuse", "16", // when history's oldest turn is dropped, shift the cached turns after it instead of evaluating them again (~290 tokens, 20-25 s on a Core 2)
    "--slot-save-path", "${NOMAD_ALLOC_DIR}/data", // the agent saves the evaluated system prompt + tool schemas and restores it after a restart (the alloc dir outlives task restarts)
    "--cache-ram", String(cacheRamMiB), // bounded by the head's spare RAM: the 8192 MiB default would push an 8 GB node into swap
    "--jinja", // the model's own chat template, needed for tool calls
    // The default (auto) turns it on for CPUs, but these CPUs have no F16C: the CPU flash
    // attention then converts every F16 K/V value one at a time. Without it a core2 build
    // evaluates a turn's prompt 1.2-1.6x and generates 1.2-1.3x faster once 300-1000 tokens
    // of conversation are cached (npm run bench:llm -- --only flash-attn); it wins only on
    // an empty cache (0.87x).
    "--flash-attn", "off",
    // The same missing F16C: an f16 K/V cache is converted value by value on every read.
    // In f32 a turn evaluates 1.14-1.18x and generates 1.05-1.12x faster with 390-790 tokens
    // cached (npm run bench:llm -- --only kv-cache); it takes twice the RAM, so the planner
    // chooses it (infra/planner.ts planLayers) and the RAM reserved counts it.
    ...(kvCacheType === "f32" ? ["--cache-type-k", "f32", "--cache-type-v", "f32"] : []),
    "-lv", "4", // info log: where each layer went (CPU / RPCn) shows in `nomad alloc logs`
    ...split, // last: HEAD_SCRIPT swaps these four when a worker stays gone
  ];
  const headGroup: TaskGroup = {
    Name: "head",
    Count: 1,
    ...onNodesPreferringFirst(headNodes),
    Networks: [httpPortOf(args)],
    RestartPolicy: SERVER_RESTART,
    Tasks: [...(args.workers.length > 0 ? [waitForWorkersTask(workerNodes, rpcServiceName, waitSeconds)] : []), rawExecTask({
      name: "llama-server",
      ...(args.workers.length > 0
        ? {
            command: "/bin/sh",
            args: ["local/head.sh", `${args.binDir}/llama-server`, ...serverArgs],
            env: { AIDE_RPC_WORKERS: workerNodes.join(" "), AIDE_WORKER_WAIT_S: String(waitSeconds), ...fallbackEnv },
          }
        : { command: `${args.binDir}/llama-server`, args: serverArgs }),
      templates: args.workers.length > 0 ? [rpcServersTemplate(workerNodes), { EmbeddedTmpl: HEAD_SCRIPT, DestPath: "local/head.sh", ChangeMode: "noop" }] : undefined,
      services: [llmService("llamacpp-rpc", args.modelAlias, minutes(5))],
      cpuMHz: args.head.cpuMHz,
      memoryMB: args.head.memoryMB,
    })],
  };

  return llmJob("llamacpp-rpc", args, [...workerGroups, headGroup], 1);
}
