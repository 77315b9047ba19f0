/**
 * Aide's speech recognizer or voice as a Wyoming service, for the agent on another
 * desktop (AIDE_STT_URL / AIDE_TTS_URL) and for Home Assistant's Assist:
 *
 *   node -r ts-node/register/transpile-only agent/src/wyoming/serve.ts stt|tts [--host H] [--port P]
 *
 * Models come from the agent's own settings (AIDE_MODELS_DIR, AIDE_STT_MODEL, STT_THREADS, AIDE_TTS_VOICE).
 * Prints one line when it accepts connections: `wyoming stt listening on tcp://H:P`.
 */
import { ConfigError, loadSpeechServiceConfig, SpeechServiceConfig, SpeechServiceKind, speechServiceHelp } from "../config";
import { createSpeechToText } from "../services/stt";
import { createTextToSpeech } from "../services/tts";
import { RunningWyomingServer, startWyomingServer, WyomingService } from "./server";
import { sttService } from "./stt-service";
import { ttsService } from "./tts-service";

export async function startSpeechService(kind: SpeechServiceKind, config: SpeechServiceConfig, log: (line: string) => void): Promise<RunningWyomingServer> {
  let service: WyomingService;
  if (kind === "stt") {
    service = sttService(await createSpeechToText({ modelDir: config.modelsDir, name: config.sttModel, numThreads: config.sttThreads }));
  } else {
    const tts = await createTextToSpeech({ voice: config.ttsVoice, piper: { modelDir: config.modelsDir }, onFallback: (reason) => log(`wyoming tts: ${reason}`) });
    service = ttsService(tts);
  }
  return startWyomingServer({ host: config.host, port: config.port, service, log });
}

function usage(): string {
  return [
    "Aide's speech services over Wyoming (Home Assistant's protocol for speech services).",
    "",
    "  serve.ts stt [flags]   speech to text (default port 10300)",
    "  serve.ts tts [flags]   text to speech (default port 10200)",
    "",
    "speech to text settings (flag, environment variable, meaning):",
    speechServiceHelp("stt"),
    "",
    "text to speech settings:",
    speechServiceHelp("tts"),
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const [kind, ...rest] = process.argv.slice(2);
  if (kind === "--help" || kind === "-h" || rest.includes("--help")) {
    process.stdout.write(usage());
    return;
  }
  if (kind !== "stt" && kind !== "tts") {
    process.stderr.write(`say which service to run: stt or tts (got ${kind === undefined ? "nothing" : JSON.stringify(kind)})\n\n${usage()}`);
    process.exit(2);
  }
  let config: SpeechServiceConfig;
  try {
    config = loadSpeechServiceConfig(kind, rest);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const server = await startSpeechService(kind, config, log);
  process.stdout.write(`wyoming ${kind} listening on ${server.url}\n`);
  const stop = () => void server.close().finally(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`wyoming speech service failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
