// The voice agent (the seed's pipecatapp): WebSocket + web page, VAD → STT → Twin → TTS,
// on the node that has the webcam, with the vision detector as its own task beside it.
// It finds the LLM, the speech services and the embeddings server through Nomad's service
// discovery, so switching the backend or moving a service never changes this job.
import { agentRuntime, AgentRuntimeArgs } from "./agent-runtime";
import { checkCount, checkName, checkPath, LLM_SERVICE, minutes, NODE_STATE_DIR, onNode, rawExecTask, seconds, SERVER_RESTART } from "./common";
import { EMBEDDINGS_SERVICE, STT_SERVICE, TTS_SERVICE } from "./speech-services";
import { NomadJobSpec, Task, Template } from "./types";

export const AGENT_JOB_ID = "aide-voice-agent";
export const AGENT_SERVICE = "aide-agent";
/** Node meta (written by infra/scripts/nomad.sh: `"aide.webcam" = "true"`) marking the node with the camera. */
export const WEBCAM_META = "aide.webcam";

export interface VoiceAgentJobArgs extends AgentRuntimeArgs {
  datacenters: string[];
  /** The port users open in their browser (static, so it can be bookmarked). */
  port: number;
  /** Print the per-turn benchmark report (seed §9.2). */
  benchmarkMode: boolean;
  /** The agent's VAD settings (VAD_START_THRESHOLD, VAD_MIN_SILENCE_MS, VAD_SPEECH_PAD_MS). */
  vad?: { startThreshold: number; minSilenceMs: number; speechPadMs?: number };
  /** Long-term memory's folder on the node (default /var/lib/aide/memory): outside the task
   * directory, which Nomad discards with the allocation. */
  memoryDir?: string;
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

/** The env file (in the task's local/ directory) the agent re-reads on SIGHUP: AIDE_ENDPOINTS_FILE. */
export const ENDPOINTS_FILE = "endpoints.env";

/** `KEY=scheme://address:port` from the first registered instance of a service; nothing
 * while none is. `eq $i 0` keeps one while an old and a new allocation are briefly both
 * registered. */
function endpointLine(service: string, key: string, scheme: "http" | "tcp"): string {
  return `{{ range $i, $s := nomadService "${service}" }}{{ if eq $i 0 }}${key}=${scheme}://{{ .Address }}:{{ .Port }}\n{{ end }}{{ end }}`;
}

/** Where the agent finds the services of a turn, as its env: the LLM (LLM_BASE_URL, and
 * the backend from the `aide-llm` service's tag), speech recognition and synthesis
 * (AIDE_STT_URL, AIDE_TTS_URL: Wyoming over TCP) and long-term memory's embeddings
 * (EMBED_URL). When any of them moves (a dead desktop, a backend switch) Nomad rewrites
 * the file and sends SIGHUP: the agent (agent/src/main.ts) re-reads AIDE_ENDPOINTS_FILE
 * and every conversation's next turn uses the new endpoints, without a restart that would
 * drop them. (Were the handler missing, Node's default for SIGHUP is to exit, and Nomad
 * would restart the agent with the new values.) A service not registered yet leaves its
 * line out, and the agent keeps what it had (its in-process engine, memory off). */
export function serviceEndpointsTemplate(): Template {
  return {
    EmbeddedTmpl:
      `{{ range $i, $s := nomadService "${LLM_SERVICE}" }}{{ if eq $i 0 }}` +
      `LLM_BASE_URL=http://{{ .Address }}:{{ .Port }}\n` +
      `AIDE_LLM_BACKEND={{ if .Tags | contains "primacpp" }}primacpp{{ else }}llamacpp{{ end }}\n` +
      `{{ end }}{{ end }}` +
      endpointLine(STT_SERVICE, "AIDE_STT_URL", "tcp") +
      endpointLine(TTS_SERVICE, "AIDE_TTS_URL", "tcp") +
      endpointLine(EMBEDDINGS_SERVICE, "EMBED_URL", "http"),
    DestPath: `local/${ENDPOINTS_FILE}`,
    Envvars: true,
    ChangeMode: "signal",
    ChangeSignal: "SIGHUP",
  };
}

export function voiceAgentJob(args: VoiceAgentJobArgs): NomadJobSpec {
  const runtime = agentRuntime(args);
  const port = checkCount("agent port", args.port, 1024);
  const tls = args.tls && { dir: checkPath("TLS directory", args.tls.dir), httpPort: checkCount("agent plain-http port", args.tls.httpPort, 1024) };
  const agent = rawExecTask({
    name: "agent",
    ...runtime.run("main"),
    // The names agent/src/config.ts reads. The speech settings are the Wyoming services'
    // too: the agent's in-process engines stand in while a service is down.
    env: {
      ...runtime.tsNodeEnv,
      ...runtime.speechEnv,
      AIDE_HOST: "${NOMAD_IP_http}",
      AIDE_PORT: "${NOMAD_PORT_http}",
      BENCHMARK_MODE: args.benchmarkMode ? "true" : "false",
      AIDE_ENDPOINTS_FILE: `\${NOMAD_TASK_DIR}/${ENDPOINTS_FILE}`,
      AIDE_MEMORY_DIR: checkPath("memory directory", args.memoryDir ?? `${NODE_STATE_DIR}/memory`),
      // https with the household's certificate, the CA offered on the plain-http port, and the pairing code.
      ...(tls ? { ...agentTlsEnv(tls.dir), AIDE_HTTP_PORT: "${NOMAD_PORT_plain}" } : {}),
      // No VAD_STOP_THRESHOLD: the agent derives it from the start threshold by its own
      // rule (agent/src/config.ts), so the two can never disagree.
      ...(args.vad ? {
        VAD_START_THRESHOLD: String(args.vad.startThreshold),
        VAD_MIN_SILENCE_MS: String(args.vad.minSilenceMs),
        ...(args.vad.speechPadMs !== undefined ? { VAD_SPEECH_PAD_MS: String(args.vad.speechPadMs) } : {}),
      } : {}),
    },
    templates: [serviceEndpointsTemplate()],
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
      ...runtime.run("vision/detector-process"),
      // The names agent/src/vision/detector-process.ts reads; loopback only: the agent asks it.
      env: {
        ...runtime.tsNodeEnv,
        AIDE_MODELS_DIR: runtime.speechEnv.AIDE_MODELS_DIR,
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
