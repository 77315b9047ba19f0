// Pieces every Aide job shares: durations, pinning to a node, checked names, the
// raw_exec task shape and the restart behaviour of long-running servers.
import { Affinity, Constraint, NomadJobSpec, Port, RestartPolicy, Service, Task, TaskGroup, Template } from "./types";

/** Nomad's API takes durations in nanoseconds. */
export const seconds = (s: number): number => Math.round(s * 1e9);
export const minutes = (m: number): number => seconds(m * 60);

/** The service every LLM backend registers; the agent finds its endpoint by this name. */
export const LLM_SERVICE = "aide-llm";
/** One LLM job at a time: both backends register under this job ID, so switching the
 * backend is an update of one job (Nomad stops the old groups in the same plan that
 * places the new ones) and the two never hold the model in RAM at the same time. */
export const LLM_JOB_ID = "aide-llm";

/** Keeps a group on one named node (the name Nomad's client registered, `name` in its config). */
export function onNode(node: string): Constraint {
  return { LTarget: "${node.unique.name}", Operand: "=", RTarget: node };
}

/** On any of these nodes (Nomad client names): where a task may go when its node dies. */
export function onAnyNode(nodes: string[]): Constraint {
  if (nodes.length === 1) return onNode(nodes[0]);
  return { LTarget: "${node.unique.name}", Operand: "set_contains_any", RTarget: nodes.join(",") };
}

/** Prefer this node while it is up. */
export function preferNode(node: string): Affinity {
  return { LTarget: "${node.unique.name}", Operand: "=", RTarget: node, Weight: 100 };
}

/** A group that runs on the first of these nodes while it is up, and may move to the
 * others (in any order Nomad picks) when it is not. */
export function onNodesPreferringFirst(nodes: string[]): Pick<TaskGroup, "Constraints" | "Affinities"> {
  if (!nodes.length) throw new Error("a group needs at least one node to run on");
  for (const n of nodes) checkName("node name", n);
  return { Constraints: [onAnyNode(nodes)], ...(nodes.length > 1 ? { Affinities: [preferNode(nodes[0])] } : {}) };
}

// Names end up in service names, template text and command lines: keep them to the
// characters Nomad accepts in service names, so none of them can inject anything.
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function checkName(what: string, value: string): string {
  if (!NAME.test(value)) {
    throw new Error(
      `${what} '${value}' is not usable as a Nomad name: use 1-63 lowercase letters, digits and dashes, ` +
        `starting and ending with a letter or digit (rename it in the stack config)`,
    );
  }
  return value;
}

export function checkCount(what: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${what} must be a whole number ≥ ${min}, got ${value}`);
  }
  return value;
}

/** Absolute paths only: Nomad runs raw_exec tasks from their task directory. Paths reach
 * the programs as argv (no shell), so spaces and quotes are fine; `${` is not, because
 * Nomad would interpolate it as a variable. */
export function checkPath(what: string, value: string): string {
  if (!value.startsWith("/") || /[\0\n]/.test(value)) {
    throw new Error(`${what} must be an absolute path on the node, got '${value}'`);
  }
  if (value.includes("${")) {
    throw new Error(`${what} '${value}' contains '\${', which Nomad would read as a variable: rename the path`);
  }
  return value;
}

export function rawExecTask(task: {
  name: string;
  command: string;
  args: string[];
  cpuMHz: number;
  memoryMB: number;
  env?: Record<string, string>;
  templates?: Template[];
  services?: Service[];
  /** A prestart task: runs to completion before the group's main task starts. */
  prestart?: boolean;
  /** A sidecar that starts once the main task runs, and runs beside it. */
  poststartSidecar?: boolean;
  /** What stops it: the signal first, SIGKILL after the timeout (default SIGTERM, 10 s). */
  kill?: { signal: string; timeoutS: number };
}): Task {
  return {
    Name: task.name,
    Driver: "raw_exec",
    User: TASK_USER,
    Config: { command: task.command, args: task.args },
    ...(task.env ? { Env: task.env } : {}),
    ...(task.templates ? { Templates: task.templates } : {}),
    ...(task.services ? { Services: task.services } : {}),
    ...(task.prestart ? { Lifecycle: { Hook: "prestart" as const, Sidecar: false } } : {}),
    ...(task.poststartSidecar ? { Lifecycle: { Hook: "poststart" as const, Sidecar: true } } : {}),
    Resources: { CPU: Math.round(task.cpuMHz), MemoryMB: Math.max(64, Math.ceil(task.memoryMB)) },
    // llama.cpp logs every request; keep a few MB per task on the nodes' small disks.
    LogConfig: { MaxFiles: 3, MaxFileSizeMB: 10 },
    KillTimeout: seconds(task.kill?.timeoutS ?? 10),
    ...(task.kill ? { KillSignal: task.kill.signal } : {}),
  };
}

/** Long-running servers come back after a crash, forever, at a calm pace: llama-server
 * aborts on its next request when an RPC worker or ring peer disappears, and must return
 * once that peer is back. Mode "delay" waits out the interval instead of failing. */
export const SERVER_RESTART: RestartPolicy = {
  Attempts: 5,
  Interval: minutes(5),
  Delay: seconds(10),
  Mode: "delay",
};

/** The system user every task runs as: infra/scripts/base.sh creates it and gives it only
 * Aide's state directories; Nomad's client refuses to run a task as root. */
export const TASK_USER = "aide";

/** The data dir on nodes for caches that should survive a restart of the task. */
export const NODE_STATE_DIR = "/var/lib/aide";

/** What both LLM backends need to serve the model. */
export interface LlmServingArgs {
  datacenters: string[];
  /** Directory on the nodes holding the backend's binaries. */
  binDir: string;
  /** The GGUF path on the node(s) that read it. */
  modelPath: string;
  /** Name the OpenAI-compatible API reports for the model. */
  modelAlias: string;
  /** Context (tokens) per parallel slot. */
  contextSize: number;
  /** Parallel request slots of llama-server. */
  parallel: number;
  /** A fixed port for the OpenAI-compatible API (users and tools can bookmark it);
   * without it Nomad picks one and only service discovery knows it. */
  httpPort?: number;
}

/** The API port of the serving task: reserved when fixed, else dynamic. */
export function httpPortOf(args: LlmServingArgs): { ReservedPorts?: Port[]; DynamicPorts?: Port[] } {
  return args.httpPort === undefined
    ? { DynamicPorts: [{ Label: "http" }] }
    : { ReservedPorts: [{ Label: "http", Value: checkCount("LLM API port", args.httpPort, 1024) }] };
}

export function checkLlmServingArgs(args: LlmServingArgs, backend: string): void {
  checkPath(`${backend} binary directory`, args.binDir);
  checkPath("model path", args.modelPath);
  checkName("model alias", args.modelAlias);
  checkCount("context size", args.contextSize, 256);
  checkCount("parallel slots", args.parallel);
}

/** The `aide-llm` service of the API-serving task, tagged with its backend (the agent's
 * template reads the tag); without `loadGrace` nothing restarts it on a failed check. */
export function llmService(backend: "llamacpp-rpc" | "primacpp", modelAlias: string, loadGrace?: number): Service {
  return {
    Name: LLM_SERVICE,
    PortLabel: "http",
    Provider: "nomad",
    Tags: [backend, "openai"],
    Meta: { backend, model: modelAlias },
    Checks: [{
      Name: "llama-server health",
      Type: "http",
      Path: "/health", // 503 while the model loads, 200 once it serves
      Interval: seconds(10),
      Timeout: seconds(3),
      // A server that stops answering (a peer vanished mid-request) is restarted.
      ...(loadGrace === undefined ? {} : { CheckRestart: { Limit: 3, Grace: loadGrace } }),
    }],
  };
}

/** The one LLM job (see LLM_JOB_ID), whichever backend it runs. */
export function llmJob(backend: "llamacpp-rpc" | "primacpp", args: LlmServingArgs, groups: TaskGroup[], maxParallel: number): NomadJobSpec {
  return {
    Job: {
      ID: LLM_JOB_ID,
      Name: LLM_JOB_ID,
      Type: "service",
      Datacenters: args.datacenters,
      Meta: { backend, model: args.modelAlias },
      Update: {
        MaxParallel: maxParallel,
        HealthCheck: "checks",
        MinHealthyTime: seconds(10),
        // Loading a multi-GB model over 1 GbE to several nodes takes minutes.
        HealthyDeadline: minutes(15),
        ProgressDeadline: minutes(20),
        AutoRevert: false,
      },
      TaskGroups: groups,
    },
  };
}
