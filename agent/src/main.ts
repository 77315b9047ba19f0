/**
 * The voice agent's entry point: one port serving the page, `/health` and the
 * WebSocket; one pipeline per conversation, assembled by voicePipeline
 * (processors/voice-pipeline.ts, which lists an utterance's walk file by file):
 *
 *   client in → VAD → interruption → STT → TwinService → TTS → client out
 *
 *   node -r ts-node/register/transpile-only agent/src/main.ts --port 8090 --llm-url http://127.0.0.1:8080
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import { aideCache } from "./cache-dir";
import { AgentConfig, ConfigError, configHelp, endpointSettingsFromEnvFile, loadConfig, readPairingCode } from "./config";
import { LatencyReporter, formatTurnLatency } from "./metrics";
import type { BotState } from "./pipeline";
import { voicePipeline } from "./processors";
import { defaultModelDir, findBundle, ModelError } from "./models/manifest";
import { LlmClient } from "./services/llm";
import { createSpeechToText, SpeechToText } from "./services/stt";
import { createTextToSpeech, TextToSpeech } from "./services/tts";
import { SileroVad } from "./services/vad";
import { AgentServer, startAgentServer } from "./transport";
import { LlamaServerEmbedder, LongTermMemory, TwinService } from "./twin";
import { visionFromEnv } from "./vision";
import { caPageAssets, pageAssets } from "./web";
import { RemoteSpeechToText, RemoteTextToSpeech } from "./wyoming";

export interface RunningAgent {
  url: string;
  wsUrl: string;
  port: number;
  /** With https: the plain-http page offering the CA certificate, and its port. */
  plainUrl?: string;
  plainPort?: number;
  server: AgentServer;
  /** Warms the LLM's prompt cache with the fixed prefix (the LLM moved). */
  warmPrefix(): void;
  /** Call after `config`'s endpoints changed (SIGHUP): long-term memory that was off for
   * want of an embeddings server opens once one is known (new conversations get it). */
  endpointsChanged(): Promise<void>;
  close(): Promise<void>;
}

export async function startVoiceAgent(config: AgentConfig, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<RunningAgent> {
  // Load everything shared before listening, so a missing model fails at start, not mid-call.
  await SileroVad.load();
  const { stt, tts, close: closeSpeech } = await openSpeech(config, log);
  log(`speech: recognizer ${stt.name}, voice ${tts.name}`);
  // The camera, when there is one (AIDE_VISION_URL or AIDE_VISION_SOURCE; see agent/src/vision).
  const vision = await visionFromEnv();
  log(vision ? `vision: ${vision.describe}` : "vision: no camera configured (describe_scene will say so)");
  let memory = await openLongTermMemory(config, log);
  let opening: Promise<void> | undefined;

  const newBrain = (bot?: BotState) => new TwinService({
    llm: {
      baseUrl: config.llmUrl, backend: config.llmBackend, toolCalls: config.llmToolCalls, model: config.llmModel, maxTokens: config.llmMaxTokens,
      // SIGHUP rewrites config: open conversations follow the LLM when it moves.
      endpoint: () => ({ baseUrl: config.llmUrl, backend: config.llmBackend }),
    },
    scene: vision?.scene,
    // One index for the agent, one conversation id per session.
    memory: memory ? { longTerm: memory.forConversation(randomUUID()) } : undefined,
    benchmark: config.benchmark,
    warmPromptCache: config.warmPromptCache,
    bot,
    log,
  });
  const tls = config.tlsCert && config.tlsKey ? { cert: fs.readFileSync(config.tlsCert), key: fs.readFileSync(config.tlsKey) } : undefined;
  const caPem = config.tlsCa ? fs.readFileSync(config.tlsCa, "utf8") : undefined;
  const pairingCode = readPairingCode(config);
  log(pairingCode ? `pairing: devices other than this machine must give the code in ${config.pairingCodeFile}` : "pairing: off (no AIDE_PAIRING_CODE_FILE): anyone who reaches the port may talk");

  let prefix = config.warmPromptCache ? "warming" : "off";
  const probeLlm = llmHealth(config);
  let server: AgentServer;
  try {
    server = await startAgentServer({
      host: config.host,
      port: config.port,
      maxSessions: config.maxSessions,
      maxSessionsPerAddress: config.maxSessionsPerAddress,
      assets: await pageAssets(),
      session: { output: { leadMs: config.outputLeadMs }, about: { demo: config.demo } },
      log,
      tls,
      plainHttp: tls && caPem && config.httpPort !== undefined ? { port: config.httpPort, assets: (httpsUrl) => caPageAssets(caPem, httpsUrl) } : undefined,
      pairingCode,
      // promptCache: whether the LLM holds the fixed prompt prefix yet (a first turn before then waits for it).
      health: async () => ({ llm: await probeLlm(), voice: tts.name, vision: vision?.describe ?? "no camera", promptCache: prefix }),
      stages: async (session) => {
        const reporter = new LatencyReporter({
          // printed as the seed's block on stdout, never through `log` (npm start prefixes its lines)
          benchmark: config.benchmark,
          onReport: (report) => session.sendServerMessage({ type: "latency-report", ...report, text: formatTurnLatency(report) }),
        });
        session.onMetrics((f) => reporter.observe(f));
        const { turns, bot, input, output } = session;
        return voicePipeline({ turns, bot, input, hearing: { vad: await SileroVad.load(), stt }, brain: newBrain(bot), tts, output }, {
          vad: config.vad,
          minInterruptionMs: config.minInterruptionMs,
          stt: { interimMs: config.sttInterimMs, preRollMs: config.speechPadMs },
          tts: { firstWordsWhenSlow: config.ttsFirstWords },
        });
      },
    });
  } catch (error) {
    await vision?.stop();
    closeSpeech();
    throw error;
  }
  // The fixed prefix before anyone speaks (restored from llama-server's saved slot when it
  // restarted); again whenever the LLM moves (warmPrefix below, on SIGHUP).
  let warmings = 0;
  const warmPrefix = () => {
    if (!config.warmPromptCache) return;
    const mine = ++warmings; // only the latest warm-up (the LLM may have moved) reports
    const started = performance.now();
    prefix = "warming";
    void newBrain().warmPrefix().catch(() => undefined).then((r) => {
      if (mine === warmings) prefix = r ? `ready (${((performance.now() - started) / 1000).toFixed(1)} s)` : "not warmed (see the log)";
    });
  };
  warmPrefix();
  return {
    url: server.url,
    wsUrl: server.wsUrl,
    port: server.port,
    plainUrl: server.plainUrl,
    plainPort: server.plainPort,
    server,
    warmPrefix,
    async endpointsChanged() {
      if (memory || !config.embedUrl || config.memoryDir === "off") return;
      // one index per folder: a second SIGHUP while this one opens waits for it
      opening ??= openLongTermMemory(config, log).then((m) => { memory = m; }).finally(() => { opening = undefined; });
      await opening;
    },
    async close() {
      await server.close();
      await vision?.stop();
      closeSpeech();
      await memory?.flush().catch(() => undefined); // what was acknowledged is on disk
    },
  };
}

/**
 * The recognizer and the voice: in-process, or Aide's Wyoming services when AIDE_STT_URL /
 * AIDE_TTS_URL name them. Then the in-process engine is loaded only if the service is
 * down, and only when the models for it are here (checked now, so the log says at start).
 */
async function openSpeech(config: AgentConfig, log: (line: string) => void): Promise<{ stt: SpeechToText; tts: TextToSpeech; close(): void }> {
  const localStt = () => createSpeechToText({ modelDir: config.modelsDir, name: config.sttModel, numThreads: config.sttThreads });
  const localTts = () => createTextToSpeech({ voice: config.ttsVoice, piper: { modelDir: config.modelsDir }, onFallback: (reason) => log(`voice: ${reason}`) });
  const remotes: Array<RemoteSpeechToText | RemoteTextToSpeech> = [];
  let stt: SpeechToText;
  if (config.sttUrl) {
    const missing = missingModel(config, "stt");
    const remote = new RemoteSpeechToText({ url: () => config.sttUrl ?? "", fallback: missing ? undefined : localStt, noFallbackReason: missing, log });
    await remote.check();
    remotes.push(remote);
    stt = remote;
  } else stt = await localStt();
  let tts: TextToSpeech;
  if (config.ttsUrl) {
    // espeak-ng needs no model: only a voice pinned to Piper can be without one.
    const missing = config.ttsVoice === "piper" ? missingModel(config, "tts") : undefined;
    const remote = new RemoteTextToSpeech({ url: () => config.ttsUrl ?? "", fallback: missing ? undefined : localTts, noFallbackReason: missing, log });
    await remote.check();
    remotes.push(remote);
    tts = remote;
  } else tts = await localTts();
  return { stt, tts, close: () => remotes.forEach((r) => r.close()) };
}

/** Why the model directory has no `role` model, or undefined when it has one. */
function missingModel(config: AgentConfig, role: "stt" | "tts"): string | undefined {
  try {
    findBundle(config.modelsDir ?? defaultModelDir(), role, role === "stt" ? config.sttModel : undefined);
    return undefined;
  } catch (error) {
    if (error instanceof ModelError) return error.message;
    throw error;
  }
}

/**
 * Long-term memory: one index shared by every session (two indexes on one folder would
 * each save their own copy). Needs an embeddings server; without one the agent still
 * talks, with short-term memory only, and says so once.
 */
async function openLongTermMemory(config: AgentConfig, log: (line: string) => void): Promise<LongTermMemory | undefined> {
  if (config.memoryDir === "off") {
    log("memory: long-term memory off (AIDE_MEMORY_DIR=off)");
    return undefined;
  }
  if (!config.embedUrl) {
    log("memory: long-term memory off — no embeddings server; set EMBED_URL to a llama-server started with --embeddings --pooling mean (npm start does this)");
    return undefined;
  }
  const dir = config.memoryDir ?? aideCache("memory");
  // Asked on every request: when the embeddings server moves, memory follows it (SIGHUP).
  const embedder = new LlamaServerEmbedder(() => config.embedUrl!);
  const memory = await LongTermMemory.open({ dir, embedder, conversationId: "agent", log });
  log(`memory: long-term memory in ${dir} (${await memory.size()} memories), embeddings from ${config.embedUrl}`);
  return memory;
}

/**
 * "ok", or why the LLM server cannot be used right now (shown on /health), asked of
 * `config.llmUrl` as it is now (SIGHUP may move it); an answer within 1.5 s.
 */
function llmHealth(config: AgentConfig): () => Promise<string> {
  let client: LlmClient | undefined;
  return () => {
    if (client?.options.baseUrl !== config.llmUrl) client = new LlmClient({ baseUrl: config.llmUrl, connectTimeoutMs: 1500 });
    return client.health();
  };
}

async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    process.stdout.write(`Aide voice agent. Settings (flag, environment variable, meaning):\n${configHelp()}\n`);
    return;
  }
  let config: AgentConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const agent = await startVoiceAgent(config);
  process.stdout.write(`Aide voice agent: open ${agent.url} (LLM at ${config.llmUrl})${agent.plainUrl ? `; certificate for devices at ${agent.plainUrl}` : ""}\n`);
  const stop = () => {
    void agent.close().finally(() => process.exit(0));
  };
  // Nomad rewrites this file and sends SIGHUP when a service of the turn moves (a dead
  // desktop, a backend switch): every conversation's next turn goes to the new endpoints,
  // without a restart that would drop them; meanwhile a turn is answered "I'm reconnecting".
  const envFile = config.endpointsFile;
  process.on("SIGHUP", () => {
    if (!envFile) return;
    try {
      const changed = endpointSettingsFromEnvFile(fs.readFileSync(envFile, "utf8"), config);
      Object.assign(config, changed);
      process.stderr.write(`endpoints re-read: LLM ${config.llmUrl} (${config.llmBackend}), embeddings ${config.embedUrl ?? "none"}` +
        `${Object.keys(changed).length ? ` — changed: ${Object.keys(changed).join(", ")}` : " — unchanged"}\n`);
      if ("llmUrl" in changed || "llmBackend" in changed) agent.warmPrefix();
      agent.endpointsChanged().catch((error) => process.stderr.write(`long-term memory could not open: ${(error as Error).message}\n`));
    } catch (error) {
      process.stderr.write(`SIGHUP: could not re-read ${envFile}: ${(error as Error).message}; keeping LLM ${config.llmUrl}, embeddings ${config.embedUrl ?? "none"}\n`);
    }
  });
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`voice agent failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
