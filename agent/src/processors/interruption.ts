/**
 * InterruptionProcessor: decides when the user's speech cuts the bot off.
 *
 * While the bot speaks — or is still working out an answer to the user's last turn — a
 * new utterance is held back (start event and its audio) until it has lasted
 * `minDurationMs`; then an `interruption` goes downstream first (every
 * stage drops the old answer) and the held utterance follows, so no word is lost. An
 * utterance that ends sooner — a cough, a "mm-hm" — is dropped and the bot talks on.
 * When the bot is quiet and owes no answer, speech passes straight through.
 *
 * While it holds speech it says so downstream at once (`barge-in-pending`): the brain stops
 * generating then, rather than once the barge-in is sure, so the user's turn finds the LLM
 * free sooner; `barge-in-withdrawn` lets it go on when no interruption comes of the speech.
 *
 * Whether the bot speaks or owes an answer is the session's BotState (pipeline/bot-state.ts).
 */
import { BotState, Direction, Frame, FrameProcessor, InputAudioFrame, UserStartedSpeakingFrame, frame } from "../pipeline";

/** Speech shorter than this does not cut the bot off (a cough, a "mm-hm"). */
export const DEFAULT_MIN_INTERRUPTION_MS = 300;

export class InterruptionProcessor extends FrameProcessor {
  private held: Array<UserStartedSpeakingFrame | InputAudioFrame> | undefined;
  private heldMs = 0;

  constructor(private readonly minDurationMs = DEFAULT_MIN_INTERRUPTION_MS, private readonly bot = new BotState()) {
    super();
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "upstream") {
      this.bot.observe(f);
      // The bot finished on its own: held speech is nothing to interrupt.
      if ((f.type === "llm-response-end" || f.type === "bot-stopped-speaking") && !this.bot.busy && this.held) {
        this.release();
        this.push(frame("barge-in-withdrawn"));
      }
      return this.push(f, direction);
    }
    switch (f.type) {
      case "user-started-speaking": {
        const busy = this.bot.busy;
        if (!busy || this.minDurationMs <= 0) {
          if (busy) this.interrupt();
          return this.push(f);
        }
        this.held = [f];
        this.heldMs = 0;
        return this.push(frame("barge-in-pending"));
      }
      case "input-audio":
        if (!this.held) return this.push(f);
        this.held.push(f);
        this.heldMs += (f.pcm.length * 1000) / f.sampleRate;
        if (this.heldMs >= this.minDurationMs) {
          this.interrupt();
          this.release();
        }
        return;
      case "user-stopped-speaking":
        if (this.held) {
          this.held = undefined; // too short to be a barge-in
          return this.push(frame("barge-in-withdrawn"));
        }
        return this.push(f);
      default:
        return this.push(f, direction);
    }
  }

  private interrupt(): void {
    this.bot.answerDropped(); // the held speech is the next turn
    this.push(frame("interruption"));
  }

  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const h of held) this.push(h);
  }
}
