/**
 * SttProcessor: collects the user's utterance between the VAD's start and stop, and
 * transcribes it when the user stops. A short pre-roll from before the start is kept,
 * because the VAD needs a few frames of speech before it is sure.
 *
 * While the user speaks it also re-transcribes the utterance so far every `interimMs`
 * (interim transcripts: the page shows them, the brain warms the LLM's prompt cache
 * with them), and once more at a pause (`user-paused-speaking`, a silence shorter than
 * the one that ends a turn). Re-decoding is what the model we ship allows (Moonshine
 * and Whisper-style models are offline: no streaming state), and it is cheap next to
 * the LLM: a 3 s utterance costs about 7 s of audio decoded in all, against prompt
 * evaluation that takes seconds per sentence on a Core 2. An interim is skipped while
 * the previous one is still decoding, so a slow machine simply gets fewer. When the turn
 * ends, the pause's transcript is the final one: nothing but silence came after it, so
 * the user's stop costs no decode at all.
 */
import { Direction, Frame, FrameProcessor, TurnCounter, concatPcm, frame, type TranscriptionFrame } from "../pipeline";
import type { SpeechToText } from "../services/stt";

/** Audio kept from before the VAD's start: it needs a few 32 ms frames of speech before it is sure. */
export const DEFAULT_PRE_ROLL_MS = 300;

export interface SttProcessorOptions {
  /** Audio kept from before the VAD's start (default DEFAULT_PRE_ROLL_MS). */
  preRollMs?: number;
  /** Longest utterance kept (default 30 s); beyond it the oldest audio is dropped. */
  maxUtteranceMs?: number;
  /** Re-transcribe the utterance so far this often while the user speaks (default 700 ms; 0 = no interim transcripts). */
  interimMs?: number;
}

export class SttProcessor extends FrameProcessor {
  private chunks: Int16Array[] = [];
  private samples = 0;
  private inSpeech = false;
  private sampleRate = 16000;
  private readonly preRollMs: number;
  private readonly maxUtteranceMs: number;
  private readonly interimMs: number;
  /** Samples of the utterance at the last interim transcript. */
  private interimAt = 0;
  /** An interim decode in flight (at most one). */
  private decoding: Promise<unknown> | undefined;
  /** The transcript of everything up to the last pause of this utterance. */
  private atPause: Promise<string | undefined> | undefined;
  /** Counts utterances, so a late interim of an old one is not shown as the new one's. */
  private utterance = 0;

  constructor(private readonly stt: SpeechToText, private readonly turns: TurnCounter, options: SttProcessorOptions = {}) {
    super();
    this.preRollMs = options.preRollMs ?? DEFAULT_PRE_ROLL_MS;
    this.maxUtteranceMs = options.maxUtteranceMs ?? 30_000;
    this.interimMs = options.interimMs ?? 700;
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "downstream") {
      if (f.type === "input-audio") return this.keep(f.pcm, f.sampleRate);
      if (f.type === "user-started-speaking") {
        this.inSpeech = true;
        this.interimAt = 0;
        this.atPause = undefined;
      }
      if (f.type === "user-paused-speaking" && this.inSpeech) this.atPause = this.interim(true);
      if (f.type === "user-stopped-speaking") this.finishUtterance();
    }
    this.push(f, direction);
  }

  private keep(pcm: Int16Array, sampleRate: number): void {
    this.sampleRate = sampleRate;
    this.chunks.push(pcm);
    this.samples += pcm.length;
    const limit = ((this.inSpeech ? this.maxUtteranceMs : this.preRollMs) * sampleRate) / 1000;
    while (this.chunks.length > 1 && this.samples - this.chunks[0].length >= limit) this.samples -= this.chunks.shift()!.length;
    if (this.inSpeech && this.interimMs > 0 && !this.decoding && this.samples - this.interimAt >= (this.interimMs * sampleRate) / 1000) {
      void this.interim(false);
    }
  }

  /** Transcribes the utterance so far and shows it; at a pause, after any interim in flight. */
  private async interim(atPause: boolean): Promise<string | undefined> {
    const utterance = this.utterance;
    const pcm = concatPcm(this.chunks);
    const sampleRate = this.sampleRate;
    this.interimAt = this.samples;
    const run = (async () => {
      if (atPause) await this.decoding; // never rejects: it is the caught promise below
      const { text } = await this.stt.transcribe(pcm, sampleRate);
      return text.trim();
    })();
    const tracked = run.catch(() => undefined);
    this.decoding = tracked;
    const text = await tracked;
    if (this.decoding === tracked) this.decoding = undefined;
    if (text === undefined || utterance !== this.utterance) return text;
    if (text) this.handOn(frame("transcription", { text, final: false, turnId: this.turns.current, atPause }));
    return text;
  }

  /** To the brain, and upstream for the page (the brain does not pass transcripts on). */
  private handOn(transcription: TranscriptionFrame): void {
    this.push(transcription);
    this.push(transcription, "upstream");
  }

  private finishUtterance(): void {
    this.inSpeech = false;
    const utterance = concatPcm(this.chunks);
    this.chunks = [];
    this.samples = 0;
    this.utterance++;
    const atPause = this.atPause;
    this.atPause = undefined;
    const sampleRate = this.sampleRate;
    const turnId = this.turns.current;
    // Transcribing is slow: do it in order with the data lane, not in the system lane.
    this.schedule("transcribe", async (signal) => {
      // Only silence came after the pause (a pause always precedes the stop of the same silence).
      const paused = await atPause;
      const text = paused ?? (await this.stt.transcribe(utterance, sampleRate, signal)).text;
      if (signal.aborted) return;
      this.push(frame("metrics", { turnId, mark: "transcript-final", at: performance.now() }));
      const trimmed = text.trim();
      if (!trimmed) return;
      this.handOn(frame("transcription", { text: trimmed, final: true, turnId }));
    });
  }
}
