/**
 * `npm start`: the whole voice agent on this one machine, no cluster.
 *
 * 1. finds the models: the model directory's real ones, or — saying so loudly — the
 *    generated tiny ones (the machinery works, the answers are nonsense);
 * 2. starts llama-server from the local legacy (core2) build, under a supervisor that
 *    restarts it if it dies;
 * 3. starts the speech recognizer and the voice as Wyoming services of their own, as the
 *    cluster's aide-stt and aide-tts jobs run them (ports 10300 and 10200 when free, so
 *    Home Assistant can add them; `--speech-host 0.0.0.0` to reach them from the LAN;
 *    `--speech-in-process` keeps them in the agent's process), and the embeddings server;
 * 4. starts the agent (page + WebSocket on one port) and prints the page's URL.
 *
 * Only this machine (localhost) talks without the pairing code; other devices need the
 * code, which lives in the cache directory (made once, 0600) and is printed here.
 * `--https` makes a CA in the cache directory (once; reused so a phone trusts it once)
 * and a certificate for this machine's names and addresses, and prints a QR code that
 * opens the https page with the code.
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
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { AgentConfig, ConfigError, WYOMING_DEFAULT_PORTS, configHelp, loadConfig, readPairingCode } from "../agent/src/config";
import { startVoiceAgent } from "../agent/src/main";
import { EMBEDDINGS_SERVER, speechEnv } from "../nomad-jobs";
import { ModelError, defaultModelDir, downloadCommand, findBundle } from "../agent/src/models/manifest";
import { newPairingCode } from "../agent/src/transport";
import { aideCache } from "../lib/cache";
import { ServerNames, ensureLocalTls, writePrivate } from "../lib/certificates";
import { LlamaServerSupervisor, freePort } from "../lib/llama";
import { SpeechServiceSupervisor } from "../lib/speech-services";
import { ensureTinyChatModel, ensureTinyEmbeddingModel } from "./models/tiny";
import { ensureTinySpeechModels } from "./models/tiny-speech";

function say(line: string): void {
  process.stdout.write(`start: ${line}\n`);
}

/** The path of the model directory's bundle for `role` (the one named `name`, else the first), or why there is none. */
function realModel(dir: string, role: "llm" | "stt" | "tts" | "embedding", name?: string): { path?: string; why?: string } {
  try {
    const bundle = findBundle(dir, role, name);
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

/** True when nothing listens on host:port. */
async function portFree(host: string, port: number): Promise<boolean> {
  return checkPortFree(host, port).then(() => true, () => false);
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

/** This machine as a phone on the LAN reaches it: its host name, localhost, its IPv4 addresses. */
function thisMachine(host: string): ServerNames {
  const lan = Object.values(os.networkInterfaces()).flat()
    .filter((i): i is os.NetworkInterfaceInfo => !!i && i.family === "IPv4" && !i.internal).map((i) => i.address);
  const hostname = os.hostname();
  return {
    hostnames: [...new Set(["localhost", ...(net.isIP(hostname) === 0 && /^[a-zA-Z0-9.-]+$/.test(hostname) ? [hostname] : [])])],
    addresses: [...new Set(["127.0.0.1", ...lan, ...(net.isIP(host) && host !== "0.0.0.0" ? [host] : [])])],
  };
}

/** Where --https keeps the household CA and this machine's certificate. */
function tlsDir(): string {
  return process.env.AIDE_TLS_DIR || aideCache("tls");
}

/** The pairing code file in the cache directory: made once, so a phone that paired stays paired. */
function ensurePairingCodeFile(): string {
  const file = aideCache("pairing-code");
  if (!fs.existsSync(file)) {
    fs.mkdirSync(aideCache(), { recursive: true });
    writePrivate(file, `${newPairingCode()}\n`);
  }
  fs.chmodSync(file, 0o600);
  return file;
}

/** A QR code (Debian's qrencode) of `url` for the terminal, or why there is none. */
function qrCode(url: string): string {
  try {
    return execFileSync("qrencode", ["-t", "ANSIUTF8", "-m", "2", url], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT"
      ? "  (no QR code: apt-get install qrencode, or run npm run setup)\n"
      : `  (no QR code: qrencode failed: ${(error as Error).message.split("\n")[0]})\n`;
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help")) {
    process.stdout.write(`npm start -- [--https] [settings]: llama-server + the voice agent on this machine.\n` +
      `  --speech-host <address>  where the speech services listen (default 127.0.0.1; 0.0.0.0 lets Home Assistant on the LAN use them)\n` +
      `  --speech-in-process      recognize and speak inside the agent's process (no speech services; one process less)\n` +
      `  --https                  serve https (a CA made once in ${tlsDir()} (AIDE_TLS_DIR), a certificate for this machine) so phones and\n` +
      `                           laptops get the microphone; prints a QR code that opens the page with the pairing code\n${configHelp()}\n` +
      `  (LLM_BASE_URL / --llm-url is set by this script; LLAMA_THREADS sets llama-server's threads, default 2;\n` +
      `   the pairing code is made once in ${aideCache("pairing-code")} unless --pairing-code-file names another)\n`);
    return;
  }
  const https = args.includes("--https");
  const speechInProcess = args.includes("--speech-in-process");
  const at = args.indexOf("--speech-host");
  const speechHost = at >= 0 ? args[at + 1] : "127.0.0.1";
  if (at >= 0 && (!speechHost || !net.isIPv4(speechHost))) {
    process.stderr.write(`--speech-host needs an IPv4 address to listen on (127.0.0.1, 0.0.0.0 or one of this machine's), got ${JSON.stringify(speechHost ?? "")}\n`);
    process.exit(2);
  }
  let config: AgentConfig;
  try {
    config = loadConfig(args.filter((a, i) => a !== "--https" && a !== "--speech-in-process" && !(i >= at && i <= at + 1 && at >= 0)));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  stopWithThisProcess();
  await checkPortFree(config.host, config.port);
  config.pairingCodeFile ??= ensurePairingCodeFile();
  if (https) {
    const names = thisMachine(config.host);
    const tls = ensureLocalTls(tlsDir(), names);
    for (const made of tls.made) say(`made ${made}`);
    Object.assign(config, { tlsCert: tls.certFile, tlsKey: tls.keyFile, tlsCa: tls.caFile });
    if (config.httpPort !== undefined) await checkPortFree(config.host, config.httpPort);
  }

  const dir = config.modelsDir ?? defaultModelDir();
  const llm = realModel(dir, "llm");
  const stt = realModel(dir, "stt", config.sttModel);
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
  if (!llmModel || !stt.path) config.demo = true; // the page says so too
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
  fs.mkdirSync(slots, { recursive: true });
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

  if (!speechInProcess) await startSpeechServices(config, speechHost);

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
  const code = readPairingCode(config)!;
  let away: string;
  if (https) {
    const lan = thisMachine(config.host).addresses.find((a) => a !== "127.0.0.1") ?? os.hostname();
    const page = `https://${lan}:${agent.port}/`;
    away = `From a phone or another computer: ${page}  pairing code: ${code}\n` +
      (agent.plainPort !== undefined ? `  first time on a device: open http://${lan}:${agent.plainPort}/ to install this machine's certificate\n` : "") +
      `  scan to open the page with the code:\n${qrCode(`${page}#code=${encodeURIComponent(code)}`)}`;
  } else {
    away = `From another device: browsers allow the microphone on localhost or https only — restart with npm start -- --https\n` +
      `  (or use an SSH tunnel: ssh -L ${agent.port}:localhost:${agent.port} <this machine>, then open http://localhost:${agent.port}/);\n` +
      `  pairing code for other devices: ${code}\n`;
  }
  process.stdout.write(`\nAide is running. Open ${shown} and press Talk.\n${away}` +
    `  health: ${shown}health   LLM: ${llama.url}   stop: Ctrl-C\n`);
}

const SPEECH_NAMES = { stt: "speech recognizer", tts: "voice" } as const;

/**
 * The recognizer and the voice as Wyoming services (agent/src/wyoming/serve.ts), the
 * processes the cluster's aide-stt and aide-tts jobs run, with this machine's models.
 * The agent finds them as it finds the cluster's (AIDE_STT_URL / AIDE_TTS_URL), and speaks
 * in-process while one is down. One that does not start leaves its stage in-process.
 */
async function startSpeechServices(config: AgentConfig, host: string): Promise<void> {
  // The settings the cluster's speech jobs get, from the same place, so the local services
  // hear with the recognizer and speak with the voice the agent was told to use.
  const env = speechEnv({ modelsDir: path.resolve(config.modelsDir ?? defaultModelDir()), ttsVoice: config.ttsVoice, sttThreads: config.sttThreads, sttModel: config.sttModel });
  const reach = host === "0.0.0.0" ? "127.0.0.1" : host;
  await Promise.all((["stt", "tts"] as const).map(async (kind) => {
    if (kind === "stt" ? config.sttUrl : config.ttsUrl) return; // pointed at services elsewhere
    const wanted = WYOMING_DEFAULT_PORTS[kind];
    const port = (await portFree(host, wanted)) ? wanted : await freePort(host);
    const service = new SpeechServiceSupervisor(kind, ["--host", host, "--port", String(port)], env);
    service.on("restarted", () => say(`the ${SPEECH_NAMES[kind]} service restarted after it stopped`));
    service.on("failed", (e: Error) => say(`the ${SPEECH_NAMES[kind]} service could not be restarted yet: ${e.message.split("\n")[0]}`));
    try {
      await service.start();
    } catch (error) {
      say(`${SPEECH_NAMES[kind]} in the agent's process: ${(error as Error).message}`);
      return;
    }
    started.push({ what: `${kind} service`, get pid() { return service.process?.child.pid; }, stop: () => service.stop() });
    const url = `tcp://${reach}:${port}`;
    if (kind === "stt") config.sttUrl = url;
    else config.ttsUrl = url;
    say(`${SPEECH_NAMES[kind]}: Wyoming service on tcp://${host}:${port}${port === wanted ? "" : ` (${wanted} was taken)`}`);
  }));
}

/** A supervised llama-server as `started` holds it: its pid for the exit handler, and its stop. */
function supervised(what: string, supervisor: LlamaServerSupervisor): (typeof started)[number] {
  return { what, get pid() { return supervisor.process?.pid; }, stop: () => supervisor.stop() };
}

main().catch((error) => {
  process.stderr.write(`start: ${(error as Error).message}\n`);
  void stopAll("could not start", 1);
});
