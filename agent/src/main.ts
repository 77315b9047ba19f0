/**
 * The voice agent's entry point: one port serving the page, `/health` and the
 * WebSocket; one pipeline per conversation:
 *
 *   client in → VAD → interruption → STT → TwinService → TTS → client out
 *
 *   node -r ts-node/register/transpile-only agent/src/main.ts --port 8090 --llm-url http://127.0.0.1:8080
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { AgentConfig, ConfigError, configHelp, llmSettingsFromEnvFile, loadConfig, readPairingCode } from "./config";
import { LatencyReporter, formatTurnLatency } from "./metrics";
import { voiceStages } from "./processors";
import { createSpeechToText } from "./services/stt";
import { createTextToSpeech } from "./services/tts";
import { SileroVad } from "./services/vad";
import { AgentServer, startAgentServer } from "./transport";
import { LlamaServerEmbedder, LongTermMemory, TwinService } from "./twin";
import { visionFromEnv } from "./vision";
import { caPageAssets, pageAssets } from "./web";

export interface RunningAgent {
  url: string;
  wsUrl: string;
  port: number;
  /** With https: the plain-http page offering the CA certificate, and its port. */
  plainUrl?: string;
  plainPort?: number;
  server: AgentServer;
  close(): Promise<void>;
}

export async function startVoiceAgent(config: AgentConfig, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<RunningAgent> {
  // Load everything shared before listening, so a missing model fails at start, not mid-call.
  await SileroVad.load();
  const stt = await createSpeechToText({ modelDir: config.modelsDir, numThreads: config.sttThreads });
  const tts = await createTextToSpeech({
    voice: config.ttsVoice,
    piper: { modelDir: config.modelsDir },
    onFallback: (reason) => log(`voice: ${reason}`),
  });
  log(`speech: recognizer ${(stt as { name?: string }).name ?? "?"}, voice ${tts.name}`);
  // The camera, when there is one (AIDE_VISION_URL or AIDE_VISION_SOURCE; see agent/src/vision).
  const vision = await visionFromEnv();
  log(vision ? `vision: ${vision.describe}` : "vision: no camera configured (describe_scene will say so)");
  const memory = await openLongTermMemory(config, log);
  const tls = config.tlsCert && config.tlsKey ? { cert: fs.readFileSync(config.tlsCert), key: fs.readFileSync(config.tlsKey) } : undefined;
  const caPem = config.tlsCa ? fs.readFileSync(config.tlsCa, "utf8") : undefined;
  const pairingCode = readPairingCode(config);
  log(pairingCode ? `pairing: devices other than this machine must give the code in ${config.pairingCodeFile}` : "pairing: off (no AIDE_PAIRING_CODE_FILE): anyone who reaches the port may talk");

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
      health: async () => ({ llm: await probeLlm(config.llmUrl), voice: tts.name, vision: vision?.describe ?? "no camera" }),
      stages: async (context) => {
        const reporter = new LatencyReporter({
          benchmark: config.benchmark,
          print: (block) => log(block),
          onReport: (report) => context.sendServerMessage({ type: "latency-report", ...report, text: formatTurnLatency(report) }),
        });
        context.onMetrics((f) => reporter.observe(f));
        const brain = new TwinService({
          llm: {
            baseUrl: config.llmUrl, backend: config.llmBackend, toolCalls: config.llmToolCalls, model: config.llmModel, maxTokens: config.llmMaxTokens,
            // SIGHUP rewrites config: open conversations follow the LLM when it moves.
            endpoint: () => ({ baseUrl: config.llmUrl, backend: config.llmBackend }),
          },
          scene: vision?.scene,
          // One index for the agent, one conversation id per session.
          memory: memory ? { longTerm: memory.forConversation(randomUUID()) } : undefined,
          benchmark: config.benchmark,
          log,
        });
        return voiceStages(context.turns, { vad: await SileroVad.load(), stt, brain, tts }, {
          vad: config.vad,
          minInterruptionMs: config.minInterruptionMs,
        });
      },
    });
  } catch (error) {
    await vision?.stop();
    throw error;
  }
  return {
    url: server.url,
    wsUrl: server.wsUrl,
    port: server.port,
    plainUrl: server.plainUrl,
    plainPort: server.plainPort,
    server,
    async close() {
      await server.close();
      await vision?.stop();
      await memory?.flush().catch(() => undefined); // what was acknowledged is on disk
    },
  };
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
  const dir = config.memoryDir ?? join(process.env.AIDE_CACHE || join(homedir(), ".cache", "aide"), "memory");
  const memory = await LongTermMemory.open({ dir, embedder: new LlamaServerEmbedder(config.embedUrl), conversationId: "agent", log });
  log(`memory: long-term memory in ${dir} (${await memory.size()} memories), embeddings from ${config.embedUrl}`);
  return memory;
}

/** "ok", or why the LLM server cannot be used right now (shown on /health). */
async function probeLlm(baseUrl: string): Promise<string> {
  const url = new URL("health", baseUrl.replace(/\/v1\/?$/, "/").replace(/([^/])$/, "$1/"));
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1500) });
    return res.ok ? "ok" : `answered ${res.status} at ${url.href}`;
  } catch (error) {
    return `unreachable at ${url.href}: ${(error as Error).message}`;
  }
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
  // Nomad rewrites this file and sends SIGHUP when the LLM backend moves (a dead desktop,
  // a backend switch): every conversation's next turn goes to the new endpoint, without
  // a restart that would drop them; meanwhile a turn is answered "I'm reconnecting".
  const envFile = process.env.AIDE_LLM_ENV_FILE;
  process.on("SIGHUP", () => {
    if (!envFile) return;
    try {
      Object.assign(config, llmSettingsFromEnvFile(fs.readFileSync(envFile, "utf8"), config));
      process.stderr.write(`LLM endpoint now ${config.llmUrl} (${config.llmBackend})\n`);
    } catch (error) {
      process.stderr.write(`SIGHUP: could not re-read ${envFile}: ${(error as Error).message}; keeping ${config.llmUrl}\n`);
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
