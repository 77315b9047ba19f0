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
 *
 * Everything it starts stops with it, however it stops: Ctrl-C, SIGTERM (kill, systemd;
 * package.json's `exec` lets npm's forwarded signal reach this process rather than die
 * with the `sh -c` between), SIGHUP (the terminal closed), npm itself going away, a
 * crash of the agent (an exception nothing caught), and SIGKILL (the llama-servers get
 * the kernel's parent-death signal).
 */
import { mkdirSync } from "node:fs";
import * as net from "node:net";
import { AgentConfig, ConfigError, configHelp, loadConfig } from "../agent/src/config";
import { startVoiceAgent } from "../agent/src/main";
import { EMBEDDINGS_SERVER } from "../nomad-jobs";
import { ModelError, defaultModelDir, downloadCommand, findBundle } from "../agent/src/models/manifest";
import { aideCache } from "./lib/cache";
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

/** Fails at once when the agent's port is taken: before minutes of loading a model on a Core 2. */
async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => {
      reject(error.code === "EADDRINUSE"
        ? new Error(`port ${port} is in use: pick another with npm start -- --port <port> (or stop what listens there)`)
        : new Error(`cannot listen on ${host}:${port}: ${error.message} — pick another with npm start -- --port <port> or --host <address>`));
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** What has been started so far, stopped in reverse; safe to call more than once. */
const started: Array<{ what: string; readonly pid?: number; stop(): Promise<void> }> = [];
/** Pids of the llama-servers, for the synchronous last resort in the exit handler. */
const childPids = (): number[] => started.flatMap((s) => (s.pid ? [s.pid] : []));

let stopping: Promise<void> | undefined;
function stopAll(why: string, code: number): Promise<void> {
  stopping ??= (async () => {
    say(`stopping (${why})`);
    for (const s of [...started].reverse()) {
      // Bounded: a stuck close (a save on a full disk) must not keep the llama-servers alive.
      await Promise.race([s.stop().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    }
    process.exit(code);
  })();
  return stopping;
}

function stopWithThisProcess(): void {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => void stopAll(signal, 0));
  process.on("uncaughtException", (error) => {
    process.stderr.write(`start: the agent crashed: ${error.stack ?? error.message}\n`);
    void stopAll("crash", 1);
  });
  process.on("exit", () => {
    for (const pid of childPids()) {
      try { process.kill(pid, "SIGTERM"); } catch { /* already gone */ }
    }
  });
  // npm killed with SIGKILL, or a terminal gone without a SIGHUP: this process is re-parented.
  const parent = process.ppid;
  setInterval(() => { if (process.ppid !== parent) void stopAll("its parent went away", 0); }, 1000).unref();
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

  stopWithThisProcess();
  await checkPortFree(config.host, config.port);

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
  // The agent saves the evaluated system prompt here and restores it when llama-server restarts.
  const slots = aideCache("llm-slots");
  mkdirSync(slots, { recursive: true });
  const llama = new LlamaServerSupervisor({
    model: llmModel, threads, port: llamaPort, parallel: config.maxSessions > 1 ? 2 : 1, ctxSize: 4096, diesWithParent: true,
    extraArgs: ["--slot-save-path", slots],
  });
  llama.on("restarted", () => say("llama-server restarted after it stopped"));
  llama.on("failed", (e: Error) => say(`llama-server could not be restarted yet: ${e.message.split("\n")[0]}`));
  started.push(supervised("llama-server", llama));
  await llama.start();
  config.llmUrl = llama.url;

  // Long-term memory's embeddings: a second, small llama-server (started as the cluster's
  // aide-embeddings job starts it; no prompt cache), unless EMBED_URL points elsewhere or
  // memory is off.
  let embed: LlamaServerSupervisor | undefined;
  if (!config.embedUrl && config.memoryDir !== "off") {
    const embedModel = realModel(dir, "embedding").path ?? (await ensureTinyEmbeddingModel());
    embed = new LlamaServerSupervisor({
      model: embedModel, threads: EMBEDDINGS_SERVER.threads, port: await freePort(), parallel: 1, ctxSize: EMBEDDINGS_SERVER.contextSize, cacheRamMiB: 0,
      extraArgs: [...EMBEDDINGS_SERVER.flags], diesWithParent: true,
    });
    started.push(supervised("embeddings server", embed));
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
    const e = error as NodeJS.ErrnoException;
    // Taken between the check and now.
    if (e.code === "EADDRINUSE") throw new Error(`port ${config.port} is in use: pick another with npm start -- --port <port>`);
    throw error;
  }
  started.push({ what: "agent", stop: () => agent.close() });
  const shown = agent.url.replace("127.0.0.1", "localhost");
  process.stdout.write(`\nAide is running. Open ${shown} and press Talk.\n` +
    `  (browsers allow the microphone on localhost or https only; from another machine use an SSH tunnel:\n` +
    `   ssh -L ${agent.port}:localhost:${agent.port} <this machine>, then open http://localhost:${agent.port}/)\n` +
    `  health: ${shown}health   LLM: ${llama.url}   stop: Ctrl-C\n`);
}

/** A supervised llama-server as `started` holds it: its pid for the exit handler, and its stop. */
function supervised(what: string, supervisor: LlamaServerSupervisor): (typeof started)[number] {
  return { what, get pid() { return supervisor.process?.pid; }, stop: () => supervisor.stop() };
}

main().catch((error) => {
  process.stderr.write(`start: ${(error as Error).message}\n`);
  void stopAll("could not start", 1);
});
