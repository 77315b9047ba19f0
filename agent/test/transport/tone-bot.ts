import { Direction, Frame, FrameProcessor, frame } from "../../src/pipeline";

/**
 * A stand-in for STT→brain→TTS used by transport tests: answers each final transcription
 * with `words` chunks of 40 ms audio at 24 kHz, every sample equal to `voice + turnId`,
 * so a test can tell which session and which turn any received sample belongs to.
 */
export class ToneBot extends FrameProcessor {
  constructor(private readonly voice: number, private readonly words = 25, private readonly synthDelayMs = 2) {
    super("ToneBot");
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type !== "transcription" || !f.final || direction !== "downstream") return this.push(f, direction);
    this.push(f);
    const signal = this.signal;
    this.push(frame("llm-response-start", { turnId: f.turnId }));
    for (let i = 0; i < this.words; i++) {
      await new Promise((resolve) => setTimeout(resolve, this.synthDelayMs));
      if (signal.aborted) return;
      const pcm = new Int16Array(960).fill(this.voice + f.turnId);
      this.push(frame("output-audio", { pcm, sampleRate: 24000, text: `w${i}` }));
    }
    this.push(frame("llm-response-end", { turnId: f.turnId }));
  }
}

/** Records upstream frames that reach it (e.g. bot-spoken-text from the output transport). */
export class UpstreamRecorder extends FrameProcessor {
  readonly frames: Frame[] = [];
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "upstream") this.frames.push(f);
    this.push(f, direction);
  }
}
