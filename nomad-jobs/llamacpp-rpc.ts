// The llama.cpp RPC backend: `ggml-rpc-server` on each worker node, `llama-server` on
// the head. The head holds the first layers on its own CPU and sends the rest, split by
// `--tensor-split`, to the workers it finds through Nomad's service discovery.
import {
  checkCount, checkLlmServingArgs, checkName, checkPath, httpPortOf, LLM_SERVICE, llmJob, llmService, LlmServingArgs, minutes,
  NODE_STATE_DIR, onNode, rawExecTask, seconds, SERVER_RESTART,
} from "./common";
import { NomadJobSpec, Task, TaskGroup, Template } from "./types";

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
  head: LlamaNodeRole;
  /** In `--tensor-split` order; empty when the model runs on the head alone. */
  workers: Array<LlamaNodeRole & { share: number }>;
  /** `-ngl`: layers sent to the workers, counting the output head as one (llama.cpp does;
   * infra/planner.ts llamaCppSplit computes it); the remaining first layers stay on the head. */
  offloadedLayers: number;
  /** Where each worker keeps its tensor cache (`ggml-rpc-server -c`). */
  rpcCacheDir?: string;
}

export const rpcServiceName = (node: string): string => `${LLM_SERVICE}-rpc-${node}`;

/** The env template that gives the head its RPC workers, in plan order. One service per
 * worker (not one shared name) because `--tensor-split` is positional: Nomad returns a
 * shared service's instances in its own order. `eq $i 0` keeps one instance per worker
 * while an old and a new allocation are briefly registered together. */
export function rpcServersTemplate(workerNodes: string[]): Template {
  const entries = workerNodes.map(
    (node) => `{{ range $i, $s := nomadService "${rpcServiceName(node)}" }}{{ if eq $i 0 }}{{ .Address }}:{{ .Port }}{{ end }}{{ end }}`,
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

/** Holds the head back until every worker has registered: llama-server started with a
 * gap in its list aborts ("Failed to parse endpoint"), and a first deploy would otherwise
 * crash-loop it until the workers are up. Reads its own copy of the workers template
 * (Nomad keeps re-rendering it) and prints what it still waits for. */
export const WAIT_FOR_WORKERS_SCRIPT = [
  "f=local/rpc-servers.env",
  "while :; do",
  "  list=$(sed -n 's/^LLAMA_ARG_RPC=//p' \"$f\" 2>/dev/null)",
  "  case \",$list,\" in *,,*) ;; *) echo \"all RPC workers registered: $list\"; exit 0 ;; esac",
  "  echo \"waiting for every RPC worker to register (so far: $list)\"",
  "  sleep 3",
  "done",
].join("\n");

export function waitForWorkersTask(workerNodes: string[]): Task {
  return rawExecTask({
    name: "wait-for-rpc-workers",
    command: "/bin/sh",
    args: ["-c", WAIT_FOR_WORKERS_SCRIPT],
    templates: [{ ...rpcServersTemplate(workerNodes), ChangeMode: "noop" }],
    prestart: true,
    cpuMHz: 20,
    memoryMB: 64,
  });
}

export function llamaCppRpcJob(args: LlamaCppRpcJobArgs): NomadJobSpec {
  checkLlmServingArgs(args, "llama.cpp");
  for (const role of [args.head, ...args.workers]) {
    checkName("node name", role.node);
    checkCount(`threads on ${role.node}`, role.threads);
  }
  if (args.workers.length > 0) {
    checkCount("offloaded layers", args.offloadedLayers);
    for (const w of args.workers) {
      if (!(w.share > 0)) throw new Error(`tensor split share of ${w.node} must be > 0, got ${w.share}`);
    }
  }
  const cacheDir = checkPath("RPC tensor cache directory", args.rpcCacheDir ?? `${NODE_STATE_DIR}/llama-rpc-cache`);

  const workerGroups: TaskGroup[] = args.workers.map((w) => ({
    Name: `rpc-${w.node}`,
    Count: 1,
    Constraints: [onNode(w.node)],
    Networks: [{ DynamicPorts: [{ Label: "rpc" }] }],
    RestartPolicy: SERVER_RESTART,
    Tasks: [rawExecTask({
      name: "ggml-rpc-server",
      command: `${args.binDir}/ggml-rpc-server`,
      args: [
        "-H", "${NOMAD_IP_rpc}", // the node's cluster address, never 0.0.0.0: the RPC protocol has no auth
        "-p", "${NOMAD_PORT_rpc}", // port chosen by Nomad, published through the service
        "-t", String(w.threads),
        "-c", // tensor cache on disk: a restarted head re-sends hashes, not gigabytes
      ],
      env: { LLAMA_CACHE: cacheDir },
      services: [{
        Name: rpcServiceName(w.node),
        PortLabel: "rpc",
        Provider: "nomad",
        Tags: ["llamacpp-rpc-worker"],
        Checks: [{ Name: "rpc port", Type: "tcp", Interval: seconds(10), Timeout: seconds(2) }],
      }],
      cpuMHz: w.cpuMHz,
      memoryMB: w.memoryMB,
    })],
  }));

  const split = args.workers.length > 0
    ? [
        "-ngl", String(args.offloadedLayers), // the last N layers (output head included) go to the RPC workers
        "--tensor-split", args.workers.map((w) => String(w.share)).join(","), // per worker, in LLAMA_ARG_RPC order
      ]
    : [];
  const headGroup: TaskGroup = {
    Name: "head",
    Count: 1,
    Constraints: [onNode(args.head.node)],
    Networks: [httpPortOf(args)],
    RestartPolicy: SERVER_RESTART,
    Tasks: [...(args.workers.length > 0 ? [waitForWorkersTask(args.workers.map((w) => w.node))] : []), rawExecTask({
      name: "llama-server",
      command: `${args.binDir}/llama-server`,
      args: [
        "-m", args.modelPath,
        "--alias", args.modelAlias,
        "--host", "${NOMAD_IP_http}",
        "--port", "${NOMAD_PORT_http}",
        "-t", String(args.head.threads), // explicit: the default would take every core
        "-c", String(args.contextSize * args.parallel), // the context is shared by the slots
        "-np", String(args.parallel),
        "--cache-prompt", // the agent keeps its prompt prefix fixed so each turn evaluates only new tokens
        "--jinja", // the model's own chat template, needed for tool calls
        "-lv", "4", // info log: where each layer went (CPU / RPCn) shows in `nomad alloc logs`
        ...split,
      ],
      templates: args.workers.length > 0 ? [rpcServersTemplate(args.workers.map((w) => w.node))] : undefined,
      services: [llmService("llamacpp-rpc", args.modelAlias, minutes(5))],
      cpuMHz: args.head.cpuMHz,
      memoryMB: args.head.memoryMB,
    })],
  };

  return llmJob("llamacpp-rpc", args, [...workerGroups, headGroup], 1);
}
