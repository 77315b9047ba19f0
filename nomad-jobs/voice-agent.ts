// The voice agent (the seed's pipecatapp): WebSocket + web page, VAD → STT → Twin → TTS,
// on the node that has the webcam, with the vision detector as its own task beside it.
// It finds the LLM through Nomad's service discovery, so switching the backend never
// changes this job.
import { checkCount, checkPath, LLM_SERVICE, minutes, NODE_STATE_DIR, rawExecTask, seconds, SERVER_RESTART } from "./common";
import { NomadJobSpec, Task, Template } from "./types";

export const AGENT_JOB_ID = "aide-voice-agent";
export const AGENT_SERVICE = "aide-agent";
/** Node meta key (client `meta { aide_webcam = "true" }`) marking the node with the camera. */
export const WEBCAM_META = "aide_webcam";

export interface VoiceAgentJobArgs {
  datacenters: string[];
  /** Where the Aide checkout (with node_modules) lives on the nodes. */
  appDir: string;
  /** Node.js on the nodes. */
  nodeBinary?: string;
  /** Speech models (STT/TTS/VAD) on the node. */
  modelsDir: string;
  /** The port users open in their browser (static, so it can be bookmarked). */
  port?: number;
  /** Print the per-turn benchmark report (seed §9.2). */
  benchmarkMode?: boolean;
  /** Threads for STT/TTS: the agent's node keeps its other core for the LLM or vision. */
  speechThreads?: number;
  memoryMB?: number;
  cpuMHz?: number;
  /** The YOLO detector as its own task; omitted when the cluster has no camera. */
  vision?: { entry: string; memoryMB: number; cpuMHz: number };
}

/** The LLM endpoint as env vars, from the `aide-llm` service. Also kept current in the
 * file (`AIDE_LLM_ENV_FILE`): when the backend is switched Nomad rewrites it and sends
 * SIGHUP, on which the agent re-reads it and reconnects; an agent without a SIGHUP
 * handler exits and Nomad restarts it with the new values. */
export function llmEndpointTemplate(): Template {
  return {
    EmbeddedTmpl:
      `{{ range $i, $s := nomadService "${LLM_SERVICE}" }}{{ if eq $i 0 }}` +
      `AIDE_LLM_URL=http://{{ .Address }}:{{ .Port }}\n` +
      `AIDE_LLM_BACKEND={{ if .Tags | contains "primacpp" }}primacpp{{ else }}llamacpp{{ end }}\n` +
      `{{ end }}{{ end }}`,
    DestPath: "local/llm.env",
    Envvars: true,
    ChangeMode: "signal",
    ChangeSignal: "SIGHUP",
  };
}

export function voiceAgentJob(args: VoiceAgentJobArgs): NomadJobSpec {
  const appDir = checkPath("app directory", args.appDir);
  const node = checkPath("node binary", args.nodeBinary ?? "/usr/bin/node");
  checkPath("models directory", args.modelsDir);
  const port = checkCount("agent port", args.port ?? 8080, 1024);
  const speechThreads = checkCount("speech threads", args.speechThreads ?? 1);
  // ts-node from the checkout's own node_modules: raw_exec starts in the task directory,
  // where a bare `--require ts-node/...` would not resolve.
  const tsNode = `${appDir}/node_modules/ts-node/register/transpile-only`;

  const agent = rawExecTask({
    name: "agent",
    command: node,
    args: ["--require", tsNode, `${appDir}/agent/src/main.ts`],
    env: {
      AIDE_HOST: "${NOMAD_IP_http}",
      AIDE_PORT: "${NOMAD_PORT_http}",
      AIDE_MODELS_DIR: args.modelsDir,
      AIDE_DATA_DIR: `${NODE_STATE_DIR}/agent`,
      AIDE_SPEECH_THREADS: String(speechThreads),
      AIDE_LLM_ENV_FILE: "${NOMAD_TASK_DIR}/llm.env",
      BENCHMARK_MODE: args.benchmarkMode ? "1" : "0",
    },
    templates: [llmEndpointTemplate()],
    cpuMHz: args.cpuMHz ?? 2000,
    memoryMB: args.memoryMB ?? 1536,
  });
  const tasks: Task[] = [agent];
  if (args.vision) {
    checkPath("vision entry", args.vision.entry);
    tasks.push(rawExecTask({
      name: "vision",
      command: node,
      args: ["--require", tsNode, args.vision.entry],
      env: {
        AIDE_MODELS_DIR: args.modelsDir,
        // The agent asks the detector over loopback; both tasks share the group network.
        AIDE_VISION_PORT: "${NOMAD_PORT_vision}",
        AIDE_VISION_HOST: "127.0.0.1",
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
        Constraints: [{ LTarget: `\${meta.${WEBCAM_META}}`, Operand: "=", RTarget: "true" }],
        Networks: [{
          ReservedPorts: [{ Label: "http", Value: port }],
          ...(args.vision ? { DynamicPorts: [{ Label: "vision" }] } : {}),
        }],
        Services: [{
          Name: AGENT_SERVICE,
          PortLabel: "http",
          Provider: "nomad",
          Tags: ["voice-agent"],
          Checks: [{ Name: "agent health", Type: "http", Path: "/health", Interval: seconds(10), Timeout: seconds(3), CheckRestart: { Limit: 3, Grace: minutes(2), IgnoreWarnings: false } }],
        }],
        RestartPolicy: SERVER_RESTART,
        Tasks: tasks,
      }],
    },
  };
}

