// The agent's speech engines over the network: the same SpeechToText / TextToSpeech the
// STT and TTS processors already use, answered by Aide's Wyoming services (AIDE_STT_URL,
// AIDE_TTS_URL). When a service is down or gone, the agent says so once, uses its
// in-process engine meanwhile (loaded only then, when it has the models), checks the
// service every few seconds, and says once when it is back.
import type { SpeechToText, Transcript } from "../services/stt";
import { MAX_CHUNK_MS, speakableText, TextToSpeech } from "../services/tts";
import { evenChunks } from "../services/tts/chunks";
import { event, WyomingEvent } from "./codec";
import { describeWyoming, expectEvent, openWyoming, RequestOptions } from "./client";
import { mixToMono, pcmFormat } from "./speech-format";

export interface RemoteSpeechOptions<Engine> {
  /** tcp://host:port, read at every request (the agent's config may change it when the service moves). */
  url: () => string;
  /** Loads the in-process engine; undefined when there are no models for one. */
  fallback?: () => Promise<Engine>;
  /** Why there is no fallback (shown when the service is down). */
  noFallbackReason?: string;
  log: (line: string) => void;
  /** How often a down service is checked (default 5 s). */
  checkEveryMs?: number;
  request?: Omit<RequestOptions, "signal">;
}

/**
 * Whether a speech service is usable, said once per change: up → down (with the reason
 * and what the agent does meanwhile) and down → up. While down, a `describe` every
 * `checkEveryMs` notices its return; requests meanwhile go straight to the fallback.
 */
class ServiceAvailability<Engine> {
  private down = false;
  private timer?: NodeJS.Timeout;
  private probing = false;
  private local?: Promise<Engine>;
  /** The model or voice the service named in its `info`. */
  remoteName?: string;

  constructor(private readonly what: string, private readonly options: RemoteSpeechOptions<Engine>, private readonly describeName: (info: Record<string, unknown>) => string | undefined) {}

  get up(): boolean {
    return !this.down;
  }

  get url(): string {
    return this.options.url();
  }

  /** What the engine is, for logs and /health. */
  describe(): string {
    return `${this.remoteName ?? "Wyoming service"} at ${this.url}${this.down ? " (down)" : ""}`;
  }

  /** Asks the service what it is; logs where it stands (at agent start). */
  async check(): Promise<void> {
    try {
      this.remoteName = this.describeName(await describeWyoming(this.url, this.options.request));
      this.options.log(`${this.what}: using the Wyoming service at ${this.url} (${this.remoteName ?? "unnamed model"})`);
    } catch (error) {
      this.markDown(error as Error);
    }
  }

  markDown(error: Error): void {
    if (this.down) return;
    this.down = true;
    const meanwhile = this.options.fallback
      ? "using the in-process engine until it is back"
      : `and there is no in-process engine to use meanwhile (${this.options.noFallbackReason ?? "no models"})`;
    this.options.log(`${this.what}: the Wyoming service at ${this.url} is unavailable (${error.message}); ${meanwhile}; checking every ${(this.options.checkEveryMs ?? 5000) / 1000} s`);
    this.timer = setInterval(() => void this.probe(), this.options.checkEveryMs ?? 5000);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    if (this.probing) return; // a service that accepts but does not answer: one probe at a time
    this.probing = true;
    try {
      const info = await describeWyoming(this.url, this.options.request);
      if (!this.down) return;
      this.remoteName = this.describeName(info);
      this.down = false;
      clearInterval(this.timer);
      this.timer = undefined;
      this.options.log(`${this.what}: the Wyoming service at ${this.url} is back (${this.remoteName ?? "unnamed model"}); using it again`);
    } catch {
      // still down: said once already
    } finally {
      this.probing = false;
    }
  }

  fallback(): Promise<Engine> {
    if (!this.options.fallback) {
      return Promise.reject(new Error(`${this.what}: the Wyoming service at ${this.url} is unavailable and there is no in-process engine (${this.options.noFallbackReason ?? "no models"})`));
    }
    this.local ??= this.options.fallback().catch((error: Error) => {
      this.local = undefined; // try again next time (models may have been downloaded since)
      throw error;
    });
    return this.local;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function firstModelName(info: Record<string, unknown>, program: "asr" | "tts", list: "models" | "voices"): string | undefined {
  const programs = info[program];
  const entry = Array.isArray(programs) ? (programs[0] as Record<string, unknown> | undefined) : undefined;
  const models = entry?.[list];
  const first = Array.isArray(models) ? (models[0] as Record<string, unknown> | undefined) : undefined;
  return typeof first?.name === "string" ? first.name : undefined;
}

/** Seconds of 16 kHz audio per audio-chunk sent (Home Assistant sends smaller; fewer events cost less). */
const SEND_CHUNK_SECONDS = 0.5;

/** What both remote engines share: the service's availability, their name, check() at start and close(). */
abstract class RemoteSpeechEngine<Engine> {
  protected readonly service: ServiceAvailability<Engine>;

  constructor(what: string, protected readonly options: RemoteSpeechOptions<Engine>, describeName: (info: Record<string, unknown>) => string | undefined) {
    this.service = new ServiceAvailability(what, options, describeName);
  }

  get name(): string {
    return this.service.describe();
  }

  /** Asks the service what it is and logs where it stands (at agent start). */
  check(): Promise<void> {
    return this.service.check();
  }

  /** Stops checking a down service (the agent is stopping). */
  close(): void {
    this.service.close();
  }
}

export class RemoteSpeechToText extends RemoteSpeechEngine<SpeechToText> implements SpeechToText {
  readonly sampleRate = 16000;

  constructor(options: RemoteSpeechOptions<SpeechToText>) {
    super("speech recognition", options, (info) => firstModelName(info, "asr", "models"));
  }

  async transcribe(pcm: Int16Array, sampleRate: number, signal?: AbortSignal): Promise<Transcript> {
    if (this.service.up) {
      try {
        return await this.remote(pcm, sampleRate, signal);
      } catch (error) {
        if (signal?.aborted) throw error;
        this.service.markDown(error as Error);
      }
    }
    return (await this.service.fallback()).transcribe(pcm, sampleRate, signal);
  }

  private async remote(pcm: Int16Array, rate: number, signal?: AbortSignal): Promise<Transcript> {
    const url = this.service.url;
    const conn = await openWyoming(url, { ...this.options.request, signal });
    try {
      const format = { rate, width: 2, channels: 1 };
      await conn.send(event("transcribe", { language: "en" }));
      await conn.send(event("audio-start", format));
      const step = Math.max(1, Math.round(rate * SEND_CHUNK_SECONDS));
      for (let i = 0; i < pcm.length; i += step) {
        const part = pcm.subarray(i, i + step);
        await conn.send(event("audio-chunk", format, Buffer.from(part.buffer, part.byteOffset, part.byteLength)));
      }
      await conn.send(event("audio-stop"));
      const answer = await expectEvent(conn.events()[Symbol.asyncIterator](), url, ["transcript"]);
      const text = answer.data.text;
      if (typeof text !== "string") throw new Error(`${url} sent a transcript without text`);
      return { text, audioSeconds: pcm.length / rate };
    } finally {
      conn.destroy();
    }
  }
}

export interface RemoteTextToSpeechOptions extends RemoteSpeechOptions<TextToSpeech> {
  /** Rate of every chunk synthesize() yields (default 24000, the rate the transport sends). */
  sampleRate?: number;
}

export class RemoteTextToSpeech extends RemoteSpeechEngine<TextToSpeech> implements TextToSpeech {
  readonly sampleRate: number;

  constructor(options: RemoteTextToSpeechOptions) {
    super("voice", options, (info) => firstModelName(info, "tts", "voices"));
    this.sampleRate = options.sampleRate ?? 24000;
  }

  async *synthesize(text: string, signal?: AbortSignal): AsyncGenerator<Int16Array> {
    if (!speakableText(String(text ?? "")) || signal?.aborted) return;
    if (this.service.up) {
      let heard = false;
      try {
        for await (const pcm of this.remote(text, signal)) {
          heard = true;
          yield pcm;
        }
        return;
      } catch (error) {
        if (signal?.aborted) return;
        this.service.markDown(error as Error);
        // Part of this clause was already played: the next one is spoken in-process,
        // this one is not started over (the user would hear its words twice).
        if (heard) return;
      }
    }
    yield* (await this.service.fallback()).synthesize(text, signal);
  }

  private async *remote(text: string, signal?: AbortSignal): AsyncGenerator<Int16Array> {
    const url = this.service.url;
    const conn = await openWyoming(url, { ...this.options.request, signal });
    try {
      await conn.send(event("synthesize", { text }));
      const events = conn.events()[Symbol.asyncIterator]();
      const start = await expectEvent(events, url, ["audio-start"]);
      const format = pcmFormat(`${url}: audio-start`, start.data, "the agent");
      yield* evenChunks(monoAudio(events, url, format.channels), format.rate, this.sampleRate, MAX_CHUNK_MS, signal);
    } finally {
      // Also on an abort or when the consumer stops early: nothing of this answer can arrive later.
      conn.destroy();
    }
  }
}

/** The audio-chunks up to audio-stop, as mono PCM16 (a stereo voice is mixed down). */
async function* monoAudio(events: AsyncIterator<WyomingEvent>, url: string, channels: number): AsyncGenerator<Int16Array> {
  for (;;) {
    const e = await expectEvent(events, url, ["audio-chunk", "audio-stop"]);
    if (e.type === "audio-stop") return;
    const p = e.payload ?? Buffer.alloc(0);
    const samples = new Int16Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.length - (p.length % 2)));
    yield mixToMono(samples, channels);
  }
}
