// The agent's side of vision: VisionClient reads the detector's HTTP API for the
// describe_scene tool and follows its change stream; startDetectorProcess runs the
// detector as a child process in single-machine mode.
import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { SceneSource } from "../twin/scene";
import type { SceneState } from "./detector";
import { cantSeeText } from "./observation";
import { detectorArgs, DetectorProcessOptions, envDetectorArgs, parseDetectorArgs } from "./detector-process";

export interface VisionClientOptions {
  /** The detector's API, e.g. http://127.0.0.1:8770. */
  baseUrl: string;
  /**
   * How long describe_scene waits for the detector (its answer is immediate when it runs);
   * below the tool's own 2 s limit, so the agent hears why rather than a bare timeout.
   */
  timeoutMs?: number;
}

export class VisionClient implements SceneSource {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(options: VisionClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 1500;
  }

  /** The detector's latest state; throws when the detector cannot be reached. */
  async observation(): Promise<SceneState> {
    const res = await fetch(`${this.baseUrl}/observation`, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return parseState(await res.json());
  }

  /** For describe_scene: the observation, or "I can't see right now: <why>" — never throws. */
  async currentObservation(): Promise<string> {
    try {
      const state = await this.observation();
      return state.camera === "ok" ? state.text : cantSeeText(state.error ?? "the camera is unavailable");
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why = e.name === "TimeoutError" ? `no answer within ${this.timeoutMs} ms` : e.cause?.code ?? e.message;
      return cantSeeText(`the vision detector at ${this.baseUrl} is not answering (${why})`);
    }
  }

  /**
   * Follows changes (GET /events); `onState` gets the current state at once, then each
   * change. Reconnects after a lost connection, saying so through `onState`.
   */
  follow(onState: (state: SceneState) => void, retryMs = 2000): { close(): void } {
    const stop = new AbortController();
    const loop = async () => {
      while (!stop.signal.aborted) {
        try {
          const res = await fetch(`${this.baseUrl}/events`, { signal: stop.signal });
          if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
          let buffer = "";
          const decoder = new TextDecoder();
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            buffer += decoder.decode(chunk, { stream: true });
            let end: number;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const event = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
              if (data) onState(parseState(JSON.parse(data)));
            }
          }
          throw new Error("the event stream closed");
        } catch (err) {
          if (stop.signal.aborted) return;
          const why = `the vision detector at ${this.baseUrl} is not answering (${(err as Error).message})`;
          onState({ text: cantSeeText(why), objects: [], at: new Date().toISOString(), camera: "unavailable", error: why });
          await new Promise((r) => setTimeout(r, retryMs));
        }
      }
    };
    void loop();
    return { close: () => stop.abort() };
  }
}

/** Checks the detector's JSON once at the edge. */
function parseState(body: unknown): SceneState {
  const s = body as Partial<SceneState>;
  if (!s || typeof s.text !== "string" || !Array.isArray(s.objects) || (s.camera !== "ok" && s.camera !== "unavailable") || typeof s.at !== "string") {
    throw new Error(`the vision detector answered something that is not an observation: ${JSON.stringify(body).slice(0, 200)}`);
  }
  return s as SceneState;
}

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
