/**
 * InterruptionProcessor: decides when the user's speech cuts the bot off.
 *
 * While the bot speaks, a new utterance is held back (start event and its audio) until
 * it has lasted `minDurationMs`; then an `interruption` goes downstream first (every
 * stage drops the old answer) and the held utterance follows, so no word is lost. An
 * utterance that ends sooner — a cough, a "mm-hm" — is dropped and the bot talks on.
 * When the bot is quiet, speech passes straight through.
 */
import { Direction, Frame, FrameProcessor, InputAudioFrame, UserStartedSpeakingFrame, frame } from "../pipeline";

export class InterruptionProcessor extends FrameProcessor {
  private botSpeaking = false;
  private held: Array<UserStartedSpeakingFrame | InputAudioFrame> | undefined;
  private heldMs = 0;

  constructor(private readonly minDurationMs = 300) {
    super();
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "upstream") {
      if (f.type === "bot-started-speaking") this.botSpeaking = true;
      if (f.type === "bot-stopped-speaking") {
        this.botSpeaking = false;
        this.release(); // the bot finished on its own: nothing left to interrupt
      }
      return this.push(f, direction);
    }
    switch (f.type) {
      case "user-started-speaking":
        if (!this.botSpeaking || this.minDurationMs <= 0) {
          if (this.botSpeaking) this.push(frame("interruption"));
          return this.push(f);
        }
        this.held = [f];
        this.heldMs = 0;
        return;
      case "input-audio":
        if (!this.held) return this.push(f);
        this.held.push(f);
        this.heldMs += (f.pcm.length * 1000) / f.sampleRate;
        if (this.heldMs >= this.minDurationMs) {
          this.push(frame("interruption"));
          this.release();
        }
        return;
      case "user-stopped-speaking":
        if (this.held) {
          this.held = undefined; // too short to be a barge-in
          return;
        }
        return this.push(f);
      default:
        return this.push(f, direction);
    }
  }

  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const h of held) this.push(h);
  }
}
