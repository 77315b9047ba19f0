// The detector as the agent's child process (single-machine mode): started, waited for
// until it listens, stopped with the agent; and visionFromEnv, which picks that or a
// detector running elsewhere. The HTTP client both use is client.ts.
import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { VisionClient } from "./client";
import { detectorArgs, DetectorProcessOptions, envDetectorArgs, parseDetectorArgs } from "./detector-process";

export interface DetectorProcess {
  url: string;
  pid: number;
  client: VisionClient;
  /** The child's stderr so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts the detector as a child process (single-machine mode) and waits, bounded, for
 * it to listen. Port 0 (the default here) lets it pick a free one.
 */
export function startDetectorProcess(
  options: DetectorProcessOptions & {
    startTimeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    /** The detector's entry file, when the agent is bundled and this folder's files are not beside it. */
    entry?: string;
  },
): Promise<DetectorProcess> {
  const script = options.entry ?? join(__dirname, `detector-process${__filename.endsWith(".ts") ? ".ts" : ".js"}`);
  // Running from source (tests, `ts-node` installs): let ts-node compile the child too.
  const preload = script.endsWith(".ts") ? ["-r", "ts-node/register/transpile-only"] : [];
  const args = detectorArgs({ port: 0, ...options });
  const child: ChildProcess = spawn(process.execPath, [...preload, script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: options.env ?? process.env,
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (c: string) => {
    stderr = (stderr + c).slice(-20000);
  });
  // ts-node compiling the detector and a 640 model warming up take tens of seconds on a Core 2.
  const timeoutMs = options.startTimeoutMs ?? 60000;
  // The detector is the agent's helper: it must not outlive it.
  const orphanGuard = () => child.kill("SIGKILL");
  process.once("exit", orphanGuard);
  child.once("exit", () => process.off("exit", orphanGuard));

  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill("SIGKILL"), 3000);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill("SIGTERM");
    });

  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`vision detector did not start within ${timeoutMs} ms: ${stderr.trim().split("\n").slice(-3).join(" | ") || "no output"}`));
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`vision detector could not be started (${err.message})`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // The detector's own last word ("vision: ...") says it best; else the last lines.
      const lines = stderr.trim().split("\n").filter(Boolean);
      const why = lines.filter((l) => l.startsWith("vision:")).pop() ?? lines.slice(-3).join(" | ");
      reject(new Error(why || `vision detector exited with ${signal ?? `code ${code}`} before listening`));
    });
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (c: string) => {
      out += c;
      const line = out.split("\n").find((l) => l.includes('"event":"listening"'));
      if (!line) return;
      clearTimeout(timer);
      child.stdout!.removeAllListeners("data");
      child.stdout!.resume();
      const { url } = JSON.parse(line) as { url: string };
      resolve({ url, pid: child.pid!, client: new VisionClient({ baseUrl: url }), log: () => stderr, stop });
    });
  });
}

export interface AgentVision {
  scene: VisionClient;
  /** Where it came from, for the agent's startup log. */
  describe: string;
  stop(): Promise<void>;
}

/**
 * The agent's eyes, from its environment:
 *   AIDE_VISION_URL     a detector running elsewhere (the Nomad vision task) — just a client;
 *   AIDE_VISION_SOURCE  single-machine mode — start the detector as a child (it reads the
 *                       other AIDE_VISION_* settings too);
 *   neither             no camera: undefined, and describe_scene says so.
 */
export async function visionFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<AgentVision | undefined> {
  if (env.AIDE_VISION_URL) {
    const scene = new VisionClient({ baseUrl: env.AIDE_VISION_URL });
    return { scene, describe: `vision detector at ${env.AIDE_VISION_URL}`, stop: async () => undefined };
  }
  if (!env.AIDE_VISION_SOURCE) return undefined;
  const options = parseDetectorArgs(envDetectorArgs(env));
  const child = await startDetectorProcess({ ...options, port: options.port ?? 0, env });
  return { scene: child.client, describe: `vision detector (pid ${child.pid}) at ${child.url}`, stop: child.stop };
}
