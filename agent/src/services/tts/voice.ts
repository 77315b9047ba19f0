import { evenChunks, MAX_CHUNK_MS } from "./chunks";
import { speakableText } from "./speakable";

export interface TextToSpeech {
  /** Rate of every chunk synthesize() yields (what the transport sends; 24 kHz by default). */
  readonly sampleRate: number;
  readonly name: string;
  /**
   * Speaks `text` (cleaned of markdown, emoji, code and URLs first) as PCM16 mono chunks
   * of at most 40 ms. Ends early, quietly, when `signal` aborts; yields nothing when
   * nothing in the text is speakable.
   */
  synthesize(text: string, signal?: AbortSignal): AsyncIterable<Int16Array>;
}

export interface VoiceOutputOptions {
  /** Output rate (default 24000, the rate the transport sends bot audio at). */
  sampleRate?: number;
  /** Chunk length in ms, at most 40 (default 40). */
  chunkMs?: number;
}

/** What each voice implements: speak already-clean text at the voice's own rate. */
export interface VoiceEngine {
  readonly name: string;
  readonly nativeRate: number;
  speak(text: string, signal?: AbortSignal): AsyncIterable<Int16Array>;
}

/** Cleans text, then resamples and re-chunks a voice engine's audio for the transport. */
export class VoiceOutput implements TextToSpeech {
  readonly sampleRate: number;
  readonly name: string;
  private readonly chunkMs: number;

  constructor(private readonly engine: VoiceEngine, options: VoiceOutputOptions = {}) {
    this.sampleRate = options.sampleRate ?? 24000;
    this.chunkMs = options.chunkMs ?? MAX_CHUNK_MS;
    this.name = engine.name;
    if (!(this.chunkMs > 0 && this.chunkMs <= MAX_CHUNK_MS)) {
      throw new RangeError(`TTS chunkMs must be in (0, ${MAX_CHUNK_MS}] (got ${this.chunkMs})`);
    }
  }

  async *synthesize(text: string, signal?: AbortSignal): AsyncGenerator<Int16Array> {
    const clean = speakableText(String(text ?? ""));
    if (!clean || signal?.aborted) return;
    yield* evenChunks(this.engine.speak(clean, signal), this.engine.nativeRate, this.sampleRate, this.chunkMs, signal);
  }
}
