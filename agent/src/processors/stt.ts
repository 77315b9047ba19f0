/**
 * SttProcessor: collects the user's utterance between the VAD's start and stop, and
 * transcribes it when the user stops. A short pre-roll from before the start is kept,
 * because the VAD needs a few frames of speech before it is sure.
 */
import { Direction, Frame, FrameProcessor, TurnCounter, concatPcm, frame } from "../pipeline";
import type { SpeechToText } from "../services/stt";

export interface SttProcessorOptions {
  /** Audio kept from before the VAD's start (default 300 ms). */
  preRollMs?: number;
  /** Longest utterance kept (default 30 s); beyond it the oldest audio is dropped. */
  maxUtteranceMs?: number;
}

export class SttProcessor extends FrameProcessor {
  private chunks: Int16Array[] = [];
  private samples = 0;
  private inSpeech = false;
  private sampleRate = 16000;
  private readonly preRollMs: number;
  private readonly maxUtteranceMs: number;

  constructor(private readonly stt: SpeechToText, private readonly turns: TurnCounter, options: SttProcessorOptions = {}) {
    super();
    this.preRollMs = options.preRollMs ?? 300;
    this.maxUtteranceMs = options.maxUtteranceMs ?? 30_000;
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "downstream") {
      if (f.type === "input-audio") return this.keep(f.pcm, f.sampleRate);
      if (f.type === "user-started-speaking") this.inSpeech = true;
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
  }

  private finishUtterance(): void {
    this.inSpeech = false;
    const utterance = concatPcm(this.chunks);
    this.chunks = [];
    this.samples = 0;
    const sampleRate = this.sampleRate;
    const turnId = this.turns.current;
    // Transcribing is slow: do it in order with the data lane, not in the system lane.
    this.schedule("transcribe", async (signal) => {
      const { text } = await this.stt.transcribe(utterance, sampleRate, signal);
      if (signal.aborted) return;
      this.push(frame("metrics", { turnId, mark: "transcript-final", at: performance.now() }));
      const trimmed = text.trim();
      if (!trimmed) return;
      const transcription = frame("transcription", { text: trimmed, final: true, turnId });
      this.push(transcription);
      this.push(transcription, "upstream"); // for the page: the brain does not pass it on
    });
  }
}
