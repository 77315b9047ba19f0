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
 * "Owes an answer" runs from the user's words being known (STT sends each final
 * transcription back upstream) to the bot having spoken its answer (bot-stopped-speaking)
 * or the answer ending without audio (the TTS stage sends `llm-response-end` back
 * upstream). An utterance that transcribes to nothing owes nothing.
 */
import { Direction, Frame, FrameProcessor, InputAudioFrame, UserStartedSpeakingFrame, frame } from "../pipeline";

export class InterruptionProcessor extends FrameProcessor {
  private botSpeaking = false;
  private answerPending = false;
  private answerSynthesized = false;
  private held: Array<UserStartedSpeakingFrame | InputAudioFrame> | undefined;
  private heldMs = 0;

  constructor(private readonly minDurationMs = 300) {
    super();
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "upstream") {
      this.track(f);
      return this.push(f, direction);
    }
    switch (f.type) {
      case "user-started-speaking": {
        const busy = this.botSpeaking || this.answerPending;
        if (!busy || this.minDurationMs <= 0) {
          if (busy) this.interrupt();
          return this.push(f);
        }
        this.held = [f];
        this.heldMs = 0;
        return;
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
          return;
        }
        return this.push(f);
      default:
        return this.push(f, direction);
    }
  }

  /**
   * Follows the bot's state from the frames coming back upstream. A pause between two
   * clauses (TTS slower than real time on old CPUs) stops the audio but not the answer:
   * only bot-stopped-speaking after the TTS has finished the answer ends the debt.
   */
  private track(f: Frame): void {
    switch (f.type) {
      case "transcription":
        if (f.final) {
          this.answerPending = true;
          this.answerSynthesized = false;
        }
        return;
      case "bot-started-speaking":
        this.botSpeaking = true;
        return;
      case "llm-response-end":
        this.answerSynthesized = true;
        if (!this.botSpeaking) this.answerPending = false;
        break;
      case "bot-stopped-speaking":
        this.botSpeaking = false;
        if (this.answerSynthesized) this.answerPending = false;
        break;
      default:
        return;
    }
    if (!this.botSpeaking && !this.answerPending) this.release(); // finished on its own: nothing to interrupt
  }

  private interrupt(): void {
    this.answerPending = false; // the old answer is dropped; the held speech is the next turn
    this.push(frame("interruption"));
  }

  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const h of held) this.push(h);
  }
}
