// The voice agent (the seed's pipecatapp): WebSocket + web page, VAD → STT → Twin → TTS,
// on the node that has the webcam, with the vision detector as its own task beside it.
// It finds the LLM through Nomad's service discovery, so switching the backend never
// changes this job.
import { checkCount, checkName, checkPath, LLM_SERVICE, minutes, NODE_STATE_DIR, onNode, rawExecTask, seconds, SERVER_RESTART } from "./common";
import { NomadJobSpec, Task, Template } from "./types";

export const AGENT_JOB_ID = "aide-voice-agent";
export const AGENT_SERVICE = "aide-agent";
/** Node meta (written by infra/scripts/nomad.sh: `"aide.webcam" = "true"`) marking the node with the camera. */
export const WEBCAM_META = "aide.webcam";

export interface VoiceAgentJobArgs {
  datacenters: string[];
  /** The agent package on the nodes (package.json, src/, node_modules/). */
  agentDir: string;
  /** Node.js on the nodes. */
  nodeBinary: string;
  /** ts-node's transpile-only register module the agent's TypeScript runs under. */
  tsNodeRegister?: string;
  /** Speech models (the directory with manifest.json) on the node. */
  modelsDir: string;
  /** The port users open in their browser (static, so it can be bookmarked). */
  port: number;
  /** Print the per-turn benchmark report (seed §9.2). */
  benchmarkMode: boolean;
  /** auto | piper | espeak */
  ttsVoice?: "auto" | "piper" | "espeak";
  /** Threads for speech recognition: the agent's node keeps its other core for the LLM or vision. */
  sttThreads?: number;
  vad?: { startThreshold: number; minSilenceMs: number };
  memoryMB?: number;
  cpuMHz?: number;
  /** The YOLO detector as its own task beside the agent; omitted when no node has a camera. */
  vision?: { source: string; memoryMB: number; cpuMHz: number; /** YOLOv8 .onnx; default: the yolo bundle in modelsDir */ model?: string };
  /** Without a camera in the cluster: the node (Nomad client name) the agent runs on. */
  node?: string;
  /** https: the directory infra/scripts/agent-tls.sh fills (agent.pem, agent-key.pem, ca.pem,
   * pairing-code) and the plain-http port that offers ca.pem to devices. */
  tls?: { dir: string; httpPort: number };
}

/** The files agent-tls.sh writes into the TLS directory, as the agent's settings name them. */
export function agentTlsEnv(dir: string): Record<string, string> {
  return {
    AIDE_TLS_CERT: `${dir}/agent.pem`,
    AIDE_TLS_KEY: `${dir}/agent-key.pem`,
    AIDE_TLS_CA: `${dir}/ca.pem`,
    AIDE_PAIRING_CODE_FILE: `${dir}/pairing-code`,
  };
}

/** The LLM endpoint as the agent's env (LLM_BASE_URL), from the `aide-llm` service, with
 * the backend read from the service's tag. When the backend is switched Nomad rewrites
 * the file and sends SIGHUP: the agent (agent/src/main.ts) re-reads AIDE_LLM_ENV_FILE and
 * every conversation's next turn uses the new endpoint, without a restart that would drop
 * them. (Were the handler missing, Node's default for SIGHUP is to exit, and Nomad would
 * restart the agent with the new values.) */
export function llmEndpointTemplate(): Template {
  return {
    EmbeddedTmpl:
      `{{ range $i, $s := nomadService "${LLM_SERVICE}" }}{{ if eq $i 0 }}` +
      `LLM_BASE_URL=http://{{ .Address }}:{{ .Port }}\n` +
      `AIDE_LLM_BACKEND={{ if .Tags | contains "primacpp" }}primacpp{{ else }}llamacpp{{ end }}\n` +
      `{{ end }}{{ end }}`,
    DestPath: "local/llm.env",
    Envvars: true,
    ChangeMode: "signal",
    ChangeSignal: "SIGHUP",
  };
}

export function voiceAgentJob(args: VoiceAgentJobArgs): NomadJobSpec {
  const agentDir = checkPath("agent directory", args.agentDir);
  const node = checkPath("node binary", args.nodeBinary);
  const tsNode = checkPath("ts-node register module", args.tsNodeRegister ?? `${agentDir}/node_modules/ts-node/register/transpile-only`);
  checkPath("models directory", args.modelsDir);
  const port = checkCount("agent port", args.port, 1024);
  const sttThreads = checkCount("STT threads", args.sttThreads ?? 1);
  const tls = args.tls && { dir: checkPath("TLS directory", args.tls.dir), httpPort: checkCount("agent plain-http port", args.tls.httpPort, 1024) };
  // raw_exec starts tasks in their task directory: every path is absolute.
  const runTs = (entry: string) => ({ command: node, args: ["--require", tsNode, `${agentDir}/${entry}`] });
  // ts-node looks for a tsconfig.json from the working directory (the task directory,
  // which has none) and its built-in default fails on the agent's CommonJS sources.
  const tsNodeEnv = { TS_NODE_COMPILER_OPTIONS: JSON.stringify({ module: "commonjs", moduleResolution: "node" }) };

  const agent = rawExecTask({
    name: "agent",
    ...runTs("src/main.ts"),
    // The names agent/src/config.ts reads.
    env: {
      ...tsNodeEnv,
      AIDE_HOST: "${NOMAD_IP_http}",
      AIDE_PORT: "${NOMAD_PORT_http}",
      AIDE_MODELS_DIR: args.modelsDir,
      STT_THREADS: String(sttThreads),
      BENCHMARK_MODE: args.benchmarkMode ? "true" : "false",
      AIDE_LLM_ENV_FILE: "${NOMAD_TASK_DIR}/llm.env",
      // Long-term memory in the state directory its user owns (infra/scripts/base.sh), not in a home.
      AIDE_MEMORY_DIR: `${NODE_STATE_DIR}/memory`,
      // https with the household's certificate, the CA offered on the plain-http port, and the pairing code.
      ...(tls ? { ...agentTlsEnv(tls.dir), AIDE_HTTP_PORT: "${NOMAD_PORT_plain}" } : {}),
      ...(args.ttsVoice ? { AIDE_TTS_VOICE: args.ttsVoice } : {}),
      // the stop threshold must not exceed the start one (the agent refuses to start
      // otherwise): keep its default ratio, 0.35 for 0.5
      ...(args.vad ? {
        VAD_START_THRESHOLD: String(args.vad.startThreshold),
        VAD_STOP_THRESHOLD: (args.vad.startThreshold * 0.7).toFixed(2),
        VAD_MIN_SILENCE_MS: String(args.vad.minSilenceMs),
      } : {}),
    },
    templates: [llmEndpointTemplate()],
    services: [{
      Name: AGENT_SERVICE,
      PortLabel: "http",
      Provider: "nomad",
      Tags: ["voice-agent"],
      Checks: [{ Name: "agent health", Type: "http", ...(tls ? { Protocol: "https" as const, TLSSkipVerify: true } : {}), Path: "/health", Interval: seconds(10), Timeout: seconds(3), CheckRestart: { Limit: 3, Grace: minutes(2) } }],
    }],
    cpuMHz: args.cpuMHz ?? 2000,
    memoryMB: args.memoryMB ?? 1536,
  });
  const tasks: Task[] = [agent];
  if (args.vision) {
    tasks.push(rawExecTask({
      name: "vision",
      ...runTs("src/vision/detector-process.ts"),
      // The names agent/src/vision/detector-process.ts reads; loopback only: the agent asks it.
      env: {
        ...tsNodeEnv,
        AIDE_MODELS_DIR: args.modelsDir,
        AIDE_VISION_SOURCE: args.vision.source,
        AIDE_VISION_HOST: "127.0.0.1",
        AIDE_VISION_PORT: "${NOMAD_PORT_vision}",
        ...(args.vision.model ? { AIDE_VISION_MODEL: checkPath("vision model", args.vision.model) } : {}),
      },
      cpuMHz: args.vision.cpuMHz,
      memoryMB: args.vision.memoryMB,
    }));
    agent.Env = { ...agent.Env, AIDE_VISION_URL: "http://127.0.0.1:${NOMAD_PORT_vision}" };
  }

  return {
    Job: {
      ID: AGENT_JOB_ID,
      Name: AGENT_JOB_ID,
      Type: "service",
      Datacenters: args.datacenters,
      Update: { MaxParallel: 1, HealthCheck: "checks", MinHealthyTime: seconds(5), HealthyDeadline: minutes(5), ProgressDeadline: minutes(10), AutoRevert: true },
      TaskGroups: [{
        Name: "voice-agent",
        Count: 1,
        Constraints: [args.node ? onNode(checkName("node name", args.node)) : { LTarget: `\${meta.${WEBCAM_META}}`, Operand: "=", RTarget: "true" }],
        Networks: [{
          ReservedPorts: [{ Label: "http", Value: port }, ...(tls ? [{ Label: "plain", Value: tls.httpPort }] : [])],
          ...(args.vision ? { DynamicPorts: [{ Label: "vision" }] } : {}),
        }],
        RestartPolicy: SERVER_RESTART,
        Tasks: tasks,
      }],
    },
  };
}
