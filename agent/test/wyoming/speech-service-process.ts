// Runs `agent/src/wyoming/serve.ts stt|tts` as the Nomad job will: a child process, models
// from AIDE_MODELS_DIR, ready when it prints `wyoming <kind> listening on tcp://H:P`.
import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { watchProcess } from "../../../lib/llama";

const ROOT = join(__dirname, "..", "..", "..");

export interface SpeechServiceProcess {
  child: ChildProcess;
  port: number;
  url: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startServeProcess(kind: "stt" | "tts", args: string[], env: NodeJS.ProcessEnv): Promise<SpeechServiceProcess> {
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "agent/src/wyoming/serve.ts", kind, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const { log, exited } = watchProcess(child);
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + 90_000;
  const ready = new RegExp(`^wyoming ${kind} listening on (tcp://[^\\s]+:(\\d+))$`, "m");
  while (!ready.test(log())) {
    if (dead || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`serve.ts ${kind} did not say it was listening:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const [, url, port] = ready.exec(log())!;
  return {
    child,
    port: Number(port),
    url,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
