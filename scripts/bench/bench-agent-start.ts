// npm run bench:agent-start — how long the voice agent takes from process start to
// listening (its "Aide voice agent: open …" line), as the nodes start it now (compiled:
// node agent/dist/main.js) and as they did before (ts-node --transpile-only over
// agent/src/main.ts, compiling every file at every start). By default on an emulated
// Core 2 Duo (`qemu-x86_64 -cpu core2duo`, no SSE4.1/4.2 or AVX): emulation is slower
// than the real CPU, so compare the two figures of one run, not figures across machines.
//
//   npm run bench:agent-start                 3 starts of each, under qemu core2duo
//   npm run bench:agent-start -- --runs 5     more starts
//   npm run bench:agent-start -- --native     this machine's own CPU
//
// Both load the same things before listening (Silero VAD, the generated tiny speech
// models, espeak-ng, the page); no LLM is needed to listen, and memory is off.
import { spawn } from "node:child_process";
import * as path from "node:path";
import { buildAgent } from "../build-agent";
import { ensureTinySpeechModels } from "../models/tiny-speech";

const REPO = path.join(__dirname, "..", "..");
const CORE2 = ["qemu-x86_64", "-cpu", "core2duo"];
const READY = /Aide voice agent: open /;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Seconds from spawning `node args` to the agent's ready line; then it is stopped. */
function timeStart(nodeArgs: string[], env: NodeJS.ProcessEnv, emulated: boolean): Promise<number> {
  const [command, ...args] = emulated ? [...CORE2, process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 10 * 60_000);
    let seconds: number | undefined;
    child.stdout.on("data", (d) => {
      out += d;
      if (seconds === undefined && READY.test(out)) {
        seconds = (performance.now() - started) / 1000;
        child.kill("SIGTERM"); // it closes and exits 0
      }
    });
    child.stderr.on("data", (d) => { err = (err + d).slice(-4000); });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (seconds !== undefined) resolve(seconds);
      else reject(new Error(`the agent exited (${signal ?? `code ${code}`}) before listening:\n${out}${err}`));
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const runs = Number(arg("runs") ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs ${arg("runs")} must be a whole number, at least 1`);
  const emulated = !process.argv.includes("--native");
  if (await buildAgent((l) => process.stdout.write(`bench:agent-start: ${l}\n`))) process.stdout.write("bench:agent-start: agent/dist built\n");
  const speech = await ensureTinySpeechModels();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AIDE_HOST: "127.0.0.1", AIDE_PORT: "0", AIDE_MODELS_DIR: speech.dir, AIDE_TTS_VOICE: "espeak", STT_THREADS: "1",
    AIDE_MEMORY_DIR: "off", AIDE_WARM_PROMPT_CACHE: "false", LLM_BASE_URL: "http://127.0.0.1:9",
  };
  // How the voice-agent job starts each (nomad-jobs/agent-runtime.ts).
  const modes: Array<[string, string[], NodeJS.ProcessEnv]> = [
    ["ts-node (before)", ["--require", require.resolve("ts-node/register/transpile-only"), "agent/src/main.ts"],
      { ...env, TS_NODE_COMPILER_OPTIONS: JSON.stringify({ module: "commonjs", moduleResolution: "node" }) }],
    ["compiled (now)", ["agent/dist/main.js"], env],
  ];
  const figures: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const [name, nodeArgs, modeEnv] of modes) {
      const s = await timeStart(nodeArgs, modeEnv, emulated);
      (figures[name] ??= []).push(s);
      process.stdout.write(`  run ${i + 1} ${name.padEnd(17)} ${s.toFixed(2)} s\n`);
    }
  }
  const cpu = emulated ? "qemu core2duo" : "native";
  process.stdout.write(`\nagent start to listening (${cpu}, median of ${runs}):\n`);
  for (const [name] of modes) process.stdout.write(`  ${name.padEnd(17)} ${median(figures[name]).toFixed(2)} s\n`);
  const [before, after] = modes.map(([name]) => median(figures[name]));
  process.stdout.write(`bench:agent-start cpu=${emulated ? "core2duo" : "native"} ts_node_s=${before.toFixed(2)} compiled_s=${after.toFixed(2)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench:agent-start: ${error.message}\n`);
  process.exit(1);
});
