/**
 * The agent's settings, from environment variables (what the voice-agent Nomad job
 * sets) and command-line flags (which win). Every value is checked at once; all the
 * problems are reported together, each with the setting that fixes it.
 *
 * seed §7's "VAD tuning" lives here, not in code.
 */
import * as fs from "node:fs";
import { DEFAULT_VAD_PARAMS, VadParams } from "./services/vad";
import { DEFAULT_PRE_ROLL_MS } from "./processors/stt";
import { parseTcpUrl } from "./wyoming/address";
import { pairingCodeProblem } from "./transport/pairing";
import { DEFAULT_MAX_SESSIONS, defaultSessionsPerAddress } from "./transport/limits";
import { VISION_AGENT_ENV, VISION_ENV_FLAGS } from "./vision/env";

export interface AgentConfig {
  /** Interface the page and WebSocket listen on (0.0.0.0 = the LAN). */
  host: string;
  port: number;
  /** OpenAI-compatible LLM server (llama-server, prima.cpp rank 0). */
  llmUrl: string;
  llmModel?: string;
  /** prima.cpp's server refuses native tool calls, so its tools are offered in the prompt. */
  llmBackend: "llamacpp" | "primacpp";
  /** How tools reach the server (undefined: by backend — native for llamacpp, prompt for primacpp). */
  llmToolCalls?: "native" | "prompt";
  /** Longest answer in tokens; spoken answers should be short. */
  llmMaxTokens: number;
  /** Model directory with manifest.json (undefined: $AIDE_MODELS_DIR or $AIDE_CACHE/models). */
  modelsDir?: string;
  ttsVoice: "auto" | "piper" | "espeak";
  /** Which speech recognizer of the model directory (undefined: the first its manifest lists). */
  sttModel?: string;
  vad: VadParams;
  /** Audio kept from before the VAD heard speech begin, so the recognizer hears the first syllable. */
  speechPadMs: number;
  /** User speech must last this long to cut the bot off. */
  minInterruptionMs: number;
  /** Bot audio queued ahead at the client: the longest the bot talks on after a barge-in. */
  outputLeadMs: number;
  /** Print the per-turn latency block (seed §9.2) and send it to the page. */
  benchmark: boolean;
  maxSessions: number;
  /** Conversations one address may hold (everyone through an SSH tunnel shares 127.0.0.1). */
  maxSessionsPerAddress: number;
  /** ONNX/sherpa threads for STT. */
  sttThreads: number;
  /** Long-term memory's folder (undefined: $AIDE_CACHE/memory); "off" disables it. */
  memoryDir?: string;
  /** llama-server started with --embeddings --pooling mean; without it memory is off. */
  embedUrl?: string;
  /** Re-transcribe the utterance this often while the user speaks (0: no interim transcripts). */
  sttInterimMs: number;
  /** Keep the LLM's prompt cache warm ahead of the user (twin/prompt-cache.ts). */
  warmPromptCache: boolean;
  /** Word cap of the first spoken chunk when generation is slower than speech (0: the first clause, as when it is fast). */
  ttsFirstWords: number;
  /** Aide's Wyoming speech services (tcp://host:port); undefined: transcribe / speak in-process. */
  sttUrl?: string;
  ttsUrl?: string;
  /** PEM files: with both, the page and WebSocket are https/wss (the microphone needs it off localhost). */
  tlsCert?: string;
  tlsKey?: string;
  /** The CA certificate (PEM file) the plain-http port offers to devices. */
  tlsCa?: string;
  /** The plain-http port offering the CA certificate (with TLS; default 8091; "off": none). */
  httpPort?: number;
  /** File holding the pairing code clients must give (undefined: no pairing). */
  pairingCodeFile?: string;
  /** Generated stand-in models: the page says the answers are nonsense. */
  demo: boolean;
  /** KEY=value file of the endpoints, re-read on SIGHUP (the cluster's job renders it). */
  endpointsFile?: string;
}

interface Setting {
  env: string;
  flag: string;
  help: string;
  apply(config: AgentConfig, value: string): string | undefined;
}

function numberIn(min: number, max: number, set: (c: AgentConfig, v: number) => void, integer = true) {
  return (config: AgentConfig, value: string): string | undefined => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      return `must be ${integer ? "a whole number" : "a number"} from ${min} to ${max}`;
    }
    set(config, n);
    return undefined;
  };
}

/** A file the agent must be able to read when it starts, e.g. a certificate. */
function readableFile(set: (c: AgentConfig, v: string) => void) {
  return (config: AgentConfig, value: string): string | undefined => {
    try {
      fs.accessSync(value, fs.constants.R_OK);
    } catch (error) {
      return `cannot be read (${(error as NodeJS.ErrnoException).code}): give the path of an existing file this user may read`;
    }
    set(config, value);
    return undefined;
  };
}

function httpUrl(example: string, set: (c: AgentConfig, v: string) => void) {
  return (config: AgentConfig, value: string): string | undefined => {
    try {
      const url = new URL(value);
      if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http:// or https:// URL";
    } catch {
      return `must be a URL like ${example}`;
    }
    set(config, value);
    return undefined;
  };
}

function tcpUrl(set: (c: AgentConfig, v: string) => void) {
  return (config: AgentConfig, value: string): string | undefined => {
    if (value === "") return undefined; // set but empty: in-process
    try {
      parseTcpUrl(value);
    } catch (error) {
      return `is not usable: ${(error as Error).message}`;
    }
    set(config, value);
    return undefined;
  };
}

function hostName(set: (c: AgentConfig, v: string) => void) {
  return (config: AgentConfig, value: string): string | undefined => {
    if (!/^[\w.:-]+$/.test(value)) return "must be a host name or IP address";
    set(config, value);
    return undefined;
  };
}

const SETTINGS: Setting[] = [
  { env: "AIDE_HOST", flag: "--host", help: "interface to listen on (default 0.0.0.0)", apply: hostName((c, v) => { c.host = v; }) },
  { env: "AIDE_PORT", flag: "--port", help: "port for the page, /health and /ws (default 8090)", apply: numberIn(0, 65535, (c, v) => { c.port = v; }) },
  {
    env: "LLM_BASE_URL", flag: "--llm-url", help: "OpenAI-compatible LLM server (default http://127.0.0.1:8080)",
    apply: httpUrl("http://192.168.1.101:8080", (c, v) => { c.llmUrl = v; }),
  },
  { env: "LLM_MODEL", flag: "--llm-model", help: "model name sent to the LLM server (optional)", apply: (c, v) => { c.llmModel = v || undefined; return undefined; } },
  {
    env: "AIDE_LLM_BACKEND", flag: "--llm-backend", help: "llamacpp | primacpp (default llamacpp)",
    apply: (c, v) => { if (v !== "llamacpp" && v !== "primacpp") return "must be llamacpp or primacpp"; c.llmBackend = v; return undefined; },
  },
  {
    env: "AIDE_LLM_TOOL_CALLS", flag: "--llm-tool-calls", help: "native | prompt: prompt for an OpenAI-compatible server that refuses `tools` (default: native for llamacpp, prompt for primacpp)",
    apply: (c, v) => { if (v !== "native" && v !== "prompt") return "must be native or prompt"; c.llmToolCalls = v; return undefined; },
  },
  { env: "LLM_MAX_TOKENS", flag: "--llm-max-tokens", help: "longest answer in tokens (default 200)", apply: numberIn(1, 8192, (c, v) => { c.llmMaxTokens = v; }) },
  { env: "AIDE_MODELS_DIR", flag: "--models-dir", help: "model directory with manifest.json", apply: (c, v) => { c.modelsDir = v || undefined; return undefined; } },
  {
    env: "AIDE_TTS_VOICE", flag: "--voice", help: "auto | piper | espeak (default auto: Piper when downloaded)",
    apply: (c, v) => { if (v !== "auto" && v !== "piper" && v !== "espeak") return "must be auto, piper or espeak"; c.ttsVoice = v; return undefined; },
  },
  {
    env: "AIDE_STT_MODEL", flag: "--stt-model", help: "which speech recognizer of the model directory, by name (default: the first one listed; npm run models -- list shows them)",
    apply: (c, v) => { if (!/^[A-Za-z0-9._-]+$/.test(v)) return "must be a model name like moonshine-tiny"; c.sttModel = v; return undefined; },
  },
  { env: "VAD_START_THRESHOLD", flag: "--vad-start-threshold", help: "speech probability that starts speech (default 0.5)", apply: numberIn(0.01, 0.99, (c, v) => { c.vad.startThreshold = v; }, false) },
  { env: "VAD_STOP_THRESHOLD", flag: "--vad-stop-threshold", help: "probability below which speech counts as ended (default 0.35)", apply: numberIn(0.01, 0.99, (c, v) => { c.vad.stopThreshold = v; }, false) },
  { env: "VAD_MIN_SPEECH_MS", flag: "--vad-min-speech-ms", help: "speech shorter than this is not a turn (default 96)", apply: numberIn(0, 2000, (c, v) => { c.vad.minSpeechMs = v; }) },
  { env: "VAD_MIN_SILENCE_MS", flag: "--vad-min-silence-ms", help: "silence that ends the user's turn (default 600)", apply: numberIn(100, 5000, (c, v) => { c.vad.minSilenceMs = v; }) },
  {
    env: "VAD_SPEECH_PAD_MS", flag: "--vad-speech-pad-ms",
    help: `audio kept from before speech was detected, so the recognizer hears the first syllable (default ${DEFAULT_PRE_ROLL_MS})`,
    apply: numberIn(0, 2000, (c, v) => { c.speechPadMs = v; }),
  },
  {
    env: "VAD_PAUSE_MS", flag: "--vad-pause-ms",
    help: "silence after which the answer is prepared, not spoken; shorter than --vad-min-silence-ms (default 250, 0: off)",
    apply: numberIn(0, 4999, (c, v) => { c.vad.pauseMs = v; }),
  },
  { env: "STT_INTERIM_MS", flag: "--stt-interim-ms", help: "re-transcribe the utterance this often while the user speaks, for the page and the LLM's prompt cache (default 700, 0: off)", apply: numberIn(0, 10_000, (c, v) => { c.sttInterimMs = v; }) },
  {
    env: "AIDE_WARM_PROMPT_CACHE", flag: "--warm-prompt-cache", help: "true: evaluate the LLM prompt ahead of the user (fixed prefix, history, interim transcript) so only the last words wait (default true)",
    apply: (c, v) => { if (v !== "true" && v !== "false") return "must be true or false"; c.warmPromptCache = v === "true"; return undefined; },
  },
  { env: "TTS_FIRST_WORDS", flag: "--tts-first-words", help: "when the LLM generates slower than speech, speak its first N words at once (default 4, 0: wait for the first clause)", apply: numberIn(0, 30, (c, v) => { c.ttsFirstWords = v; }) },
  { env: "MIN_INTERRUPTION_MS", flag: "--min-interruption-ms", help: "speech needed to cut the bot off (default 300)", apply: numberIn(0, 5000, (c, v) => { c.minInterruptionMs = v; }) },
  { env: "OUTPUT_LEAD_MS", flag: "--output-lead-ms", help: "bot audio queued ahead at the client (default 80, max 100)", apply: numberIn(20, 100, (c, v) => { c.outputLeadMs = v; }) },
  {
    env: "AIDE_DEMO_MODE", flag: "--demo-mode", help: "true: the page says it runs on generated stand-in models (npm start sets it when there are no real ones)",
    apply: (c, v) => { if (v !== "true" && v !== "false") return "must be true or false"; c.demo = v === "true"; return undefined; },
  },
  {
    env: "BENCHMARK_MODE", flag: "--benchmark", help: "true: print each turn's latency report",
    apply: (c, v) => { if (v !== "true" && v !== "false") return "must be true or false"; c.benchmark = v === "true"; return undefined; },
  },
  { env: "AIDE_MAX_SESSIONS", flag: "--max-sessions", help: `simultaneous conversations (default ${DEFAULT_MAX_SESSIONS})`, apply: numberIn(1, 256, (c, v) => { c.maxSessions = v; }) },
  { env: "AIDE_MAX_SESSIONS_PER_ADDRESS", flag: "--max-sessions-per-address", help: `conversations one address may hold (default ${defaultSessionsPerAddress(DEFAULT_MAX_SESSIONS)}); through an SSH tunnel everyone is 127.0.0.1`, apply: numberIn(1, 256, (c, v) => { c.maxSessionsPerAddress = v; }) },
  { env: "STT_THREADS", flag: "--stt-threads", help: "threads for speech recognition (default 2)", apply: numberIn(1, 64, (c, v) => { c.sttThreads = v; }) },
  { env: "AIDE_MEMORY_DIR", flag: "--memory-dir", help: "long-term memory's folder (default $AIDE_CACHE/memory; off: no long-term memory)", apply: (c, v) => { c.memoryDir = v || undefined; return undefined; } },
  {
    env: "EMBED_URL", flag: "--embed-url", help: "llama-server with --embeddings --pooling mean, for long-term memory (none: memory off)",
    apply: httpUrl("http://127.0.0.1:8081", (c, v) => { c.embedUrl = v; }),
  },
  {
    env: "AIDE_STT_URL", flag: "--stt-url", help: "Aide's Wyoming speech-recognition service, tcp://host:port (none: transcribe in-process; down: in-process until it is back)",
    apply: tcpUrl((c, v) => { c.sttUrl = v; }),
  },
  {
    env: "AIDE_TTS_URL", flag: "--tts-url", help: "Aide's Wyoming voice service, tcp://host:port (none: speak in-process; down: in-process until it is back)",
    apply: tcpUrl((c, v) => { c.ttsUrl = v; }),
  },
  { env: "AIDE_TLS_CERT", flag: "--tls-cert", help: "certificate (PEM) for https/wss; with --tls-key (npm start -- --https makes one)", apply: readableFile((c, v) => { c.tlsCert = v; }) },
  { env: "AIDE_TLS_KEY", flag: "--tls-key", help: "its private key (PEM)", apply: readableFile((c, v) => { c.tlsKey = v; }) },
  { env: "AIDE_TLS_CA", flag: "--tls-ca", help: "CA certificate (PEM) offered on the plain-http page, for devices to trust", apply: readableFile((c, v) => { c.tlsCa = v; }) },
  {
    env: "AIDE_HTTP_PORT", flag: "--http-port", help: "plain-http port offering the CA certificate, with https (default 8091; off: none)",
    apply: (c, v) => {
      if (v !== "off") return numberIn(0, 65535, (cc, n) => { cc.httpPort = n; })(c, v);
      c.httpPort = undefined;
      return undefined;
    },
  },
  {
    env: "AIDE_PAIRING_CODE_FILE", flag: "--pairing-code-file", help: "file holding the pairing code a device must give to talk (localhost needs none; default: no pairing)",
    apply: readableFile((c, v) => { c.pairingCodeFile = v; }),
  },
  {
    env: "AIDE_ENDPOINTS_FILE", flag: "--endpoints-file",
    help: "KEY=value file of LLM_BASE_URL, AIDE_LLM_BACKEND, AIDE_STT_URL, AIDE_TTS_URL, EMBED_URL, re-read on SIGHUP (the cluster's agent job renders it from Nomad's services)",
    apply: (c, v) => { c.endpointsFile = v || undefined; return undefined; },
  },
];

/**
 * Settings read from the environment where they are used (each has no flag of the
 * agent's own): listed in --help beside the table, so no setting is hidden.
 */
const ENVIRONMENT_ONLY: Array<{ env: string; help: string }> = [
  { env: "AIDE_CACHE", help: "folder for downloaded and generated models, long-term memory, certificates (default ~/.cache/aide)" },
  { env: "AIDE_ESPEAK_DATA", help: "espeak-ng's data folder (default: where Debian's espeak-ng-data puts it)" },
  ...Object.entries(VISION_AGENT_ENV).map(([env, help]) => ({ env, help })),
  ...Object.entries(VISION_ENV_FLAGS).filter(([env]) => !(env in VISION_AGENT_ENV)).map(([env, { flag, help }]) => ({ env, help: `with AIDE_VISION_SOURCE: the detector's ${flag}, ${help}` })),
];

export function defaultConfig(): AgentConfig {
  return {
    host: "0.0.0.0",
    port: 8090,
    llmUrl: "http://127.0.0.1:8080",
    llmBackend: "llamacpp",
    llmMaxTokens: 200,
    ttsVoice: "auto",
    vad: { ...DEFAULT_VAD_PARAMS },
    speechPadMs: DEFAULT_PRE_ROLL_MS,
    minInterruptionMs: 300,
    outputLeadMs: 80,
    benchmark: false,
    maxSessions: DEFAULT_MAX_SESSIONS,
    maxSessionsPerAddress: defaultSessionsPerAddress(DEFAULT_MAX_SESSIONS),
    sttThreads: 2,
    sttInterimMs: 700,
    warmPromptCache: true,
    ttsFirstWords: 4,
    httpPort: 8091,
    demo: false,
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[], what = "the voice agent") {
    super(`${what}'s settings have ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join("\n")}\n(run with --help for every setting)`);
    this.name = "ConfigError";
  }
}


/** Applies `settings` from env, then from flags (which win); returns every problem found. */
function readSettings(settings: Setting[], config: AgentConfig, argv: string[], env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  for (const s of settings) {
    const value = env[s.env];
    if (value === undefined) continue;
    const problem = s.apply(config, value);
    if (problem) problems.push(`${s.env}=${JSON.stringify(value)} ${problem} (${s.help})`);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const s = settings.find((x) => x.flag === flag);
    if (!s) {
      problems.push(`unknown flag ${JSON.stringify(flag)}: known flags are ${settings.map((x) => x.flag).join(", ")}`);
      if (inline === undefined && argv[i + 1] !== undefined && !argv[i + 1].startsWith("--")) i++; // its value
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (flag === "--benchmark" && (next === undefined || next.startsWith("--"))) value = "true";
      else if (next === undefined) {
        problems.push(`${flag} needs a value (${s.help})`);
        continue;
      } else value = argv[++i];
    }
    const problem = s.apply(config, value);
    if (problem) problems.push(`${flag} ${JSON.stringify(value)} ${problem} (${s.help})`);
  }
  return problems;
}

/** Reads env, then flags (`--port 9000` or `--port=9000`; `--benchmark` alone means true). */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const config = defaultConfig();
  const problems = readSettings(SETTINGS, config, argv, env);
  const stopGiven = env.VAD_STOP_THRESHOLD !== undefined || argv.some((a) => a === "--vad-stop-threshold" || a.startsWith("--vad-stop-threshold="));
  if (!stopGiven) {
    // Only the start threshold was tuned: the stop threshold follows it at the default ratio.
    const ratio = DEFAULT_VAD_PARAMS.stopThreshold / DEFAULT_VAD_PARAMS.startThreshold;
    config.vad.stopThreshold = Math.round(config.vad.startThreshold * ratio * 1000) / 1000;
  } else if (config.vad.stopThreshold > config.vad.startThreshold) {
    problems.push(`VAD stop threshold ${config.vad.stopThreshold} is above the start threshold ${config.vad.startThreshold}: set VAD_STOP_THRESHOLD at or below VAD_START_THRESHOLD`);
  }
  if (config.vad.pauseMs !== undefined && config.vad.pauseMs > 0 && config.vad.pauseMs >= config.vad.minSilenceMs) {
    problems.push(`VAD pause ${config.vad.pauseMs} ms is not shorter than the end-of-turn silence ${config.vad.minSilenceMs} ms: set VAD_PAUSE_MS below VAD_MIN_SILENCE_MS (or 0 to turn preparing at a pause off)`);
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    problems.push(`https needs both a certificate and its key: set ${config.tlsCert === undefined ? "AIDE_TLS_CERT (--tls-cert)" : "AIDE_TLS_KEY (--tls-key)"} too`);
  }
  if (config.tlsCa !== undefined && config.tlsCert === undefined) {
    problems.push("AIDE_TLS_CA (--tls-ca) is offered on the plain-http page of an https agent: set AIDE_TLS_CERT and AIDE_TLS_KEY too, or drop it");
  }
  if (config.pairingCodeFile !== undefined) {
    const problem = pairingCodeProblem(fs.readFileSync(config.pairingCodeFile, "utf8").trim());
    if (problem) problems.push(`the pairing code in ${config.pairingCodeFile} ${problem}: write a new one there`);
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/** The pairing code from AIDE_PAIRING_CODE_FILE (undefined: no pairing). */
export function readPairingCode(config: AgentConfig): string | undefined {
  return config.pairingCodeFile === undefined ? undefined : fs.readFileSync(config.pairingCodeFile, "utf8").trim();
}

/**
 * The settings Nomad's endpoints template renders (nomad-jobs/voice-agent.ts
 * serviceEndpointsTemplate) and rewrites when a service moves: the ones the agent re-reads
 * on SIGHUP. AIDE_STT_URL and AIDE_TTS_URL (the Wyoming speech services) count once the
 * agent has those settings; until then their lines are ignored like any unknown key.
 */
export const ENDPOINT_SETTINGS = ["LLM_BASE_URL", "AIDE_LLM_BACKEND", "AIDE_STT_URL", "AIDE_TTS_URL", "EMBED_URL"] as const;

/**
 * The endpoints from a `KEY=value` env file (the Nomad job's AIDE_ENDPOINTS_FILE): the
 * fields of `base` they change, checked like loadConfig (bad values throw, naming the
 * setting). A setting missing from the file keeps its value: a service that is not
 * registered right now is left out of the file, and the agent goes on with what it had.
 */
export function endpointSettingsFromEnvFile(text: string, base: AgentConfig): Partial<AgentConfig> {
  const next: AgentConfig = { ...base, vad: { ...base.vad } };
  const problems: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m || !(ENDPOINT_SETTINGS as readonly string[]).includes(m[1])) continue;
    const setting = SETTINGS.find((s) => s.env === m[1]);
    const value = m[2].trim();
    const problem = setting?.apply(next, value);
    if (problem) problems.push(`${m[1]}=${JSON.stringify(value)} ${problem} (${setting!.help})`);
  }
  if (problems.length) throw new ConfigError(problems);
  const changed: Partial<AgentConfig> = {};
  for (const key of Object.keys(next) as Array<keyof AgentConfig>) {
    if (next[key] !== base[key] && key !== "vad") (changed as Record<string, unknown>)[key] = next[key];
  }
  return changed;
}

export function configHelp(): string {
  return `${helpLines(SETTINGS)}\n  read from the environment only:\n${ENVIRONMENT_ONLY.map((s) => `  ${"".padEnd(24)} ${s.env.padEnd(22)} ${s.help}`).join("\n")}`;
}

/** Which of Aide's Wyoming speech services `agent/src/wyoming/serve.ts` runs. */
export type SpeechServiceKind = "stt" | "tts";

/** Home Assistant's Wyoming add-ons listen here (whisper 10300, piper 10200): its users expect them. */
export const WYOMING_DEFAULT_PORTS: Record<SpeechServiceKind, number> = { stt: 10300, tts: 10200 };

export type SpeechServiceConfig = Pick<AgentConfig, "host" | "port" | "modelsDir" | "ttsVoice" | "sttThreads" | "sttModel">;

/** The service's own address, then the agent's settings for the models it serves (read the same way). */
function speechServiceSettings(kind: SpeechServiceKind): Setting[] {
  const shared = kind === "stt" ? ["AIDE_MODELS_DIR", "AIDE_STT_MODEL", "STT_THREADS"] : ["AIDE_MODELS_DIR", "AIDE_TTS_VOICE"];
  return [
    { env: "AIDE_WYOMING_HOST", flag: "--host", help: "interface to listen on (default 127.0.0.1; 0.0.0.0 for Home Assistant or the cluster)", apply: hostName((c, v) => { c.host = v; }) },
    { env: "AIDE_WYOMING_PORT", flag: "--port", help: `TCP port (default ${WYOMING_DEFAULT_PORTS[kind]}, as Home Assistant's Wyoming ${kind} add-on)`, apply: numberIn(0, 65535, (c, v) => { c.port = v; }) },
    ...SETTINGS.filter((s) => shared.includes(s.env)),
  ];
}

export function loadSpeechServiceConfig(kind: SpeechServiceKind, argv: string[], env: NodeJS.ProcessEnv = process.env): SpeechServiceConfig {
  const config = { ...defaultConfig(), host: "127.0.0.1", port: WYOMING_DEFAULT_PORTS[kind] };
  const problems = readSettings(speechServiceSettings(kind), config, argv, env);
  if (problems.length) throw new ConfigError(problems, `the Wyoming ${kind} service`);
  return { host: config.host, port: config.port, modelsDir: config.modelsDir, ttsVoice: config.ttsVoice, sttThreads: config.sttThreads, sttModel: config.sttModel };
}

function helpLines(settings: Setting[]): string {
  return settings.map((s) => `  ${s.flag.padEnd(24)} ${s.env.padEnd(22)} ${s.help}`).join("\n");
}

export function speechServiceHelp(kind: SpeechServiceKind): string {
  return helpLines(speechServiceSettings(kind));
}
