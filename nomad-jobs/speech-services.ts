// The stages of a turn that can run beside the LLM instead of after it on the agent's
// cores: speech recognition and synthesis as Wyoming services (Home Assistant's protocol
// for speech, served by agent/src/wyoming/serve.ts), and the embeddings llama-server long-term
// memory asks. Each is a job of its own, so Nomad places it on the node the planner chose
// (infra/planner.ts placeSpeechServices) and moves it when that desktop dies; the voice
// agent finds each one through its Nomad service (nomad-jobs/voice-agent.ts).
import { agentRuntime, AgentRuntimeArgs } from "./agent-runtime";
import { checkPath, minutes, onNodesPreferringFirst, rawExecTask, seconds, SERVER_RESTART } from "./common";
import { NomadJobSpec, Service, Task } from "./types";

export type WyomingKind = "stt" | "tts";

/** Job IDs and Nomad service names: one each, the same word. */
export const STT_SERVICE = "aide-stt";
export const TTS_SERVICE = "aide-tts";
export const EMBEDDINGS_SERVICE = "aide-embeddings";
export const WYOMING_SERVICES: Record<WyomingKind, string> = { stt: STT_SERVICE, tts: TTS_SERVICE };

/** RAM each service's job reserves by default (MB): what the planner keeps free for it. */
export const SPEECH_SERVICE_MEMORY_MB = {
  /** Node + sherpa-onnx with one model (Moonshine tiny, or a Piper medium voice). */
  stt: 640,
  tts: 640,
  /** a 21 MB model with a 512-token context */
  embeddings: 256,
} as const;

/** The embeddings llama-server, as `npm start` (scripts/start-local.ts) and this job run it. */
export const EMBEDDINGS_SERVER = {
  /** One thread: an embedding is a few sentences, and the node's other core stays free. */
  threads: 1,
  /** Tokens per request: memories and queries are a sentence or two. */
  contextSize: 512,
  /** What makes llama-server an embedder (/v1/embeddings, one vector per input, mean-pooled
   * as all-MiniLM-L6-v2 was trained). */
  flags: ["--embeddings", "--pooling", "mean"],
} as const;

interface PlacedServiceArgs {
  datacenters: string[];
  /** Nomad client names: the service runs on the first while it is up, else on any other. */
  nodes: string[];
  cpuMHz?: number;
  memoryMB?: number;
  /** Registered but not run (Nomad's stopped job), when it cannot run with this stack. */
  stopped?: boolean;
}

export interface WyomingServiceJobArgs extends PlacedServiceArgs, AgentRuntimeArgs {
  kind: WyomingKind;
}

export interface EmbeddingsJobArgs extends PlacedServiceArgs {
  /** Directory on the nodes holding llama-server. */
  binDir: string;
  /** The embeddings GGUF on the nodes (infra/distribution.ts puts it on every node). */
  modelPath: string;
}

/** One group, one task, one dynamic port the task's service publishes. */
function placedServiceJob(id: string, args: PlacedServiceArgs, port: string, task: Task): NomadJobSpec {
  return {
    Job: {
      ID: id,
      Name: id,
      Type: "service",
      Datacenters: args.datacenters,
      ...(args.stopped ? { Stop: true } : {}),
      Update: { MaxParallel: 1, HealthCheck: "checks", MinHealthyTime: seconds(5), HealthyDeadline: minutes(5), ProgressDeadline: minutes(10), AutoRevert: true },
      TaskGroups: [{
        Name: id,
        Count: 1,
        ...onNodesPreferringFirst(args.nodes),
        // Dynamic: the firewall opens Nomad's dynamic range to cluster members only, and the
        // agent learns the port from the service.
        Networks: [{ DynamicPorts: [{ Label: port }] }],
        RestartPolicy: SERVER_RESTART,
        Tasks: [task],
      }],
    },
  };
}

/** `aide-stt` or `aide-tts`: agent/src/wyoming/serve.ts on the node's cluster address. */
export function wyomingServiceJob(args: WyomingServiceJobArgs): NomadJobSpec {
  if (args.kind !== "stt" && args.kind !== "tts") throw new Error(`Wyoming service kind must be stt or tts, got '${String(args.kind)}'`);
  const runtime = agentRuntime(args);
  const name = WYOMING_SERVICES[args.kind];
  const service: Service = {
    Name: name,
    PortLabel: "wyoming",
    Provider: "nomad",
    Tags: ["wyoming", args.kind],
    // Listening is all a Wyoming server shows without a conversation; a dead process is
    // restarted by the restart policy.
    Checks: [{ Name: "wyoming port", Type: "tcp", Interval: seconds(10), Timeout: seconds(2) }],
  };
  return placedServiceJob(name, args, "wyoming", rawExecTask({
    name: args.kind,
    // The node's cluster address, never 0.0.0.0: Wyoming has no authentication.
    ...runtime.run("wyoming/serve", args.kind, "--host", "${NOMAD_IP_wyoming}", "--port", "${NOMAD_PORT_wyoming}"),
    env: { ...runtime.tsNodeEnv, ...runtime.speechEnv },
    services: [service],
    cpuMHz: args.cpuMHz ?? 1000,
    memoryMB: args.memoryMB ?? SPEECH_SERVICE_MEMORY_MB[args.kind],
  }));
}

/** `aide-embeddings`: llama-server as an embedder, for long-term memory. */
export function embeddingsJob(args: EmbeddingsJobArgs): NomadJobSpec {
  const binDir = checkPath("llama.cpp binary directory", args.binDir);
  const modelPath = checkPath("embeddings model path", args.modelPath);
  return placedServiceJob(EMBEDDINGS_SERVICE, args, "http", rawExecTask({
    name: "llama-server",
    command: `${binDir}/llama-server`,
    args: [
      "-m", modelPath,
      "--host", "${NOMAD_IP_http}", // the node's cluster address: the agent asks from its own node
      "--port", "${NOMAD_PORT_http}",
      "-t", String(EMBEDDINGS_SERVER.threads), // explicit: the default takes every core
      "-c", String(EMBEDDINGS_SERVER.contextSize),
      "-np", "1", // one request at a time: memory embeds a turn's text, then waits for the next turn
      "--cache-ram", "0", // no prompt cache: no two embedding requests share a prefix worth keeping
      "--no-webui",
      ...EMBEDDINGS_SERVER.flags,
    ],
    services: [{
      Name: EMBEDDINGS_SERVICE,
      PortLabel: "http",
      Provider: "nomad",
      Tags: ["embeddings", "openai"],
      Checks: [{
        Name: "llama-server health", Type: "http", Path: "/health", Interval: seconds(10), Timeout: seconds(3),
        CheckRestart: { Limit: 3, Grace: minutes(1) },
      }],
    }],
    cpuMHz: args.cpuMHz ?? 1000,
    memoryMB: args.memoryMB ?? SPEECH_SERVICE_MEMORY_MB.embeddings,
  }));
}
