// The agent's side of vision, over HTTP: VisionClient reads the detector's API for the
// describe_scene tool and follows its change stream. Starting the detector as a child
// process (single-machine mode) is detector-child.ts.
import type { SceneSource } from "../twin/scene";
import type { SceneState } from "./detector";
import { cantSeeText } from "./observation";

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
