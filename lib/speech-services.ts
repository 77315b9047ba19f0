// Aide's speech services as processes of their own: `agent/src/wyoming/serve.ts stt|tts`,
// run as the cluster's aide-stt / aide-tts jobs run them — models from AIDE_MODELS_DIR,
// ready when it prints `wyoming <kind> listening on tcp://H:P`. `npm start` runs them on
// this machine (so one PC has what the cluster has, Home Assistant can use them, and a
// recognizer decoding does not hold up the agent's event loop); tests run them too.
import { ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { watchProcess, type RunningProcess } from "./llama";

const ROOT = join(__dirname, "..");

export type SpeechKind = "stt" | "tts";

/** A running serve.ts: its url is tcp://H:P. */
export interface SpeechServiceProcess extends Pick<RunningProcess, "url" | "port" | "log" | "exited" | "stop"> {
  child: ChildProcess;
}

export interface SpeechServiceOptions {
  /** Goes when its parent goes, even on SIGKILL (util-linux `setpriv --pdeathsig`). */
  diesWithParent?: boolean;
  readyTimeoutMs?: number;
}

export async function startServeProcess(kind: SpeechKind, args: string[], env: NodeJS.ProcessEnv, options: SpeechServiceOptions = {}): Promise<SpeechServiceProcess> {
  const node = [process.execPath, "-r", require.resolve("ts-node/register/transpile-only"), "agent/src/wyoming/serve.ts", kind, ...args];
  const argv = options.diesWithParent ? ["setpriv", "--pdeathsig", "SIGTERM", "--", ...node] : node;
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const { log, exited } = watchProcess(child);
  let dead = false;
  void exited.then(() => (dead = true));
  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  const ready = new RegExp(`^wyoming ${kind} listening on (tcp://[^\\s]+:(\\d+))$`, "m");
  while (!ready.test(log())) {
    if (dead || Date.now() > deadline) {
      child.kill("SIGKILL");
      const last = log().trim().split("\n").filter(Boolean).slice(-1)[0] ?? "no output";
      throw new Error(`the ${kind} service (serve.ts ${kind}) ${dead ? "exited" : `was not listening after ${Math.round(timeoutMs / 1000)} s`} — last line: ${last.slice(0, 300)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const [, url, port] = ready.exec(log())!;
  return {
    child, port: Number(port), url, log, exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(kill);
    },
  };
}

/**
 * A speech service kept running: started again (on the same port, 1 s then up to 30 s
 * apart) when it stops on its own. Meanwhile the agent speaks through its in-process
 * engine and reconnects when the service is back. Emits "restarted" and "failed" (Error).
 */
export class SpeechServiceSupervisor extends EventEmitter {
  process: SpeechServiceProcess | undefined;
  private stopping = false;
  private backoffMs = 1000;

  constructor(readonly kind: SpeechKind, private readonly args: string[], private readonly env: NodeJS.ProcessEnv) {
    super();
  }

  /** Starts the service; rejects when it does not come up (then nothing is left running). */
  async start(): Promise<SpeechServiceProcess> {
    const running = await startServeProcess(this.kind, this.args, this.env, { diesWithParent: true });
    this.watch(running);
    return running;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.process?.stop();
  }

  private watch(running: SpeechServiceProcess): void {
    this.process = running;
    void running.exited.then(() => {
      if (!this.stopping) setTimeout(() => void this.restart(running.port), this.backoffMs).unref();
    });
  }

  private async restart(port: number): Promise<void> {
    if (this.stopping) return;
    const args = [...this.args.filter((_, i, all) => all[i] !== "--port" && all[i - 1] !== "--port"), "--port", String(port)];
    try {
      const running = await startServeProcess(this.kind, args, this.env, { diesWithParent: true });
      if (this.stopping) return void (await running.stop());
      this.backoffMs = 1000;
      this.watch(running);
      this.emit("restarted");
    } catch (error) {
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
      this.emit("failed", error);
      setTimeout(() => void this.restart(port), this.backoffMs).unref();
    }
  }
}
