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

/**
 * Speaks each final transcription as clauses of NATO words, `msPerWord` of audio per word
 * in 40 ms chunks; every chunk names its clause and the clause's last chunk carries its
 * words, as the TTS stage does. Samples are `voice + turnId`, as ToneBot's.
 */
export class ClauseBot extends FrameProcessor {
  static readonly CLAUSES = ["alpha bravo charlie delta echo foxtrot", "golf hotel india juliett kilo lima"];

  constructor(private readonly voice: number, private readonly msPerWord = 120) {
    super("ClauseBot");
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type !== "transcription" || !f.final || direction !== "downstream") return this.push(f, direction);
    const signal = this.signal;
    this.push(frame("llm-response-start", { turnId: f.turnId }));
    for (const clause of ClauseBot.CLAUSES) {
      const chunks = (clause.split(" ").length * this.msPerWord) / 40;
      for (let i = 0; i < chunks; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (signal.aborted) return;
        const pcm = new Int16Array(960).fill(this.voice + f.turnId);
        this.push(frame("output-audio", { pcm, sampleRate: 24000, clause, ...(i === chunks - 1 ? { text: clause } : {}) }));
      }
    }
    this.push(frame("llm-response-end", { turnId: f.turnId }));
  }
}
