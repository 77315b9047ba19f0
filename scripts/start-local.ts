/**
 * `npm start`: the whole voice agent on this one machine, no cluster.
 *
 * 1. finds the models: the model directory's real ones, or — saying so loudly — the
 *    generated tiny ones (the machinery works, the answers are nonsense);
 * 2. starts llama-server from the local legacy (core2) build, under a supervisor that
 *    restarts it if it dies;
 * 3. starts the agent (page + WebSocket on one port) and prints the page's URL.
 *
 * Agent settings pass through: `npm start -- --port 9000 --benchmark` (see `--help`).
 * Why llama-server and not node-llama-cpp in process: it is the same binary the cluster
 * runs (one code path to trust), its prompt cache keeps turn k to its new tokens, and
 * its crash cannot take the agent down (the supervisor restarts it, the agent says so).
 */
import { AgentConfig, ConfigError, configHelp, loadConfig } from "../agent/src/config";
import { startVoiceAgent } from "../agent/src/main";
import { ModelError, defaultModelDir, downloadCommand, findBundle } from "../agent/src/models/manifest";
import { LlamaServerSupervisor, freePort } from "./lib/llama";
import { ensureTinyChatModel, ensureTinyEmbeddingModel } from "./models/tiny";
import { ensureTinySpeechModels } from "./models/tiny-speech";

function say(line: string): void {
  process.stdout.write(`start: ${line}\n`);
}

/** The path of the model directory's bundle for `role`, or why there is none. */
function realModel(dir: string, role: "llm" | "stt" | "tts" | "embedding"): { path?: string; why?: string } {
  try {
    const bundle = findBundle(dir, role);
    return { path: bundle.files.model ?? Object.values(bundle.files)[0] };
  } catch (error) {
    if (error instanceof ModelError) return { why: error.message };
    throw error;
  }
}

function banner(lines: string[]): void {
  const width = Math.max(...lines.map((l) => l.length));
  const bar = "!".repeat(width + 4);
  process.stdout.write(`\n${bar}\n${lines.map((l) => `! ${l.padEnd(width)} !`).join("\n")}\n${bar}\n\n`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help")) {
    process.stdout.write(`npm start -- [settings]: llama-server + the voice agent on this machine.\n${configHelp()}\n` +
      `  (LLM_BASE_URL / --llm-url is set by this script; LLAMA_THREADS sets llama-server's threads, default 2)\n`);
    return;
  }
  let config: AgentConfig;
  try {
    config = loadConfig(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  const dir = config.modelsDir ?? defaultModelDir();
  const llm = realModel(dir, "llm");
  const stt = realModel(dir, "stt");
  const tts = realModel(dir, "tts");
  let llmModel = llm.path;
  if (!llmModel || !stt.path) {
    const missing = [!llm.path && "no language model", !stt.path && "no speech recognizer"].filter(Boolean).join(" and ");
    banner([
      `NO REAL MODELS: ${dir} has ${missing}.`,
      "Running with GENERATED TINY MODELS so you can see the machinery work:",
      "the recognizer hears one fixed phrase and the answers are NONSENSE.",
      `Download real models: ${downloadCommand(dir)}`,
    ]);
  }
  if (!llmModel) llmModel = await ensureTinyChatModel();
  if (!stt.path) {
    const tiny = await ensureTinySpeechModels();
    config.modelsDir = tiny.dir;
    // The tiny Piper voice is a tone; espeak-ng is real (robotic) speech and needs no download.
    config.ttsVoice = "espeak";
  } else {
    config.modelsDir = dir;
    if (!tts.path) say(`no Piper voice in ${dir}: speaking with espeak-ng (${downloadCommand(dir)} fetches one)`);
  }

  const threads = Number(process.env.LLAMA_THREADS ?? 2);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`LLAMA_THREADS=${process.env.LLAMA_THREADS} must be a whole number of threads, at least 1`);
  const llamaPort = await freePort();
  say(`starting llama-server (${threads} threads) with ${llmModel}`);
  const llama = new LlamaServerSupervisor({ model: llmModel, threads, port: llamaPort, parallel: config.maxSessions > 1 ? 2 : 1, ctxSize: 4096 });
  llama.on("restarted", () => say("llama-server restarted after it stopped"));
  llama.on("failed", (e: Error) => say(`llama-server could not be restarted yet: ${e.message.split("\n")[0]}`));
  await llama.start();
  config.llmUrl = llama.url;

  // Long-term memory's embeddings: a second, small llama-server (one thread, no prompt
  // cache), unless EMBED_URL points elsewhere or memory is off.
  let embed: LlamaServerSupervisor | undefined;
  if (!config.embedUrl && config.memoryDir !== "off") {
    const embedModel = realModel(dir, "embedding").path ?? (await ensureTinyEmbeddingModel());
    embed = new LlamaServerSupervisor({
      model: embedModel, threads: 1, port: await freePort(), parallel: 1, ctxSize: 512, cacheRamMiB: 0,
      extraArgs: ["--embeddings", "--pooling", "mean"],
    });
    embed.on("failed", (e: Error) => say(`embeddings server could not be restarted yet: ${e.message.split("\n")[0]}`));
    say(`starting the embeddings server for long-term memory with ${embedModel}`);
    try {
      await embed.start();
      config.embedUrl = embed.url;
    } catch (error) {
      say(`long-term memory off: ${(error as Error).message}`);
      embed = undefined;
    }
  }

  let agent: Awaited<ReturnType<typeof startVoiceAgent>>;
  try {
    agent = await startVoiceAgent(config, (line) => say(line));
  } catch (error) {
    await llama.stop();
    await embed?.stop();
    const e = error as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE") throw new Error(`port ${config.port} is in use: pick another with npm start -- --port <port>`);
    throw error;
  }
  const shown = agent.url.replace("127.0.0.1", "localhost");
  process.stdout.write(`\nAide is running. Open ${shown} and press Talk.\n` +
    `  (browsers allow the microphone on localhost or https only; from another machine use an SSH tunnel:\n` +
    `   ssh -L ${agent.port}:localhost:${agent.port} <this machine>, then open http://localhost:${agent.port}/)\n` +
    `  health: ${shown}health   LLM: ${llama.url}   stop: Ctrl-C\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say("stopping");
    await agent.close().catch(() => {});
    await llama.stop().catch(() => {});
    await embed?.stop().catch(() => {});
    process.exit(0);
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
}

main().catch((error) => {
  process.stderr.write(`start: ${(error as Error).message}\n`);
  process.exit(1);
});
