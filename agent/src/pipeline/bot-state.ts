/**
 * Whether the bot is speaking, and whether it owes the user an answer: the one place this
 * is worked out, one per session (like TurnCounter), read by every stage that decides
 * something by it (the input transport, InterruptionProcessor, TwinService).
 *
 * It is learned from the frames that come back upstream, which the stages reading it hand
 * to `observe` as they see them; each frame counts once, where it is first seen, so all
 * readers share the earliest news:
 *
 * - speaking: from `bot-started-speaking` to `bot-stopped-speaking`, which the output
 *   transport sends when the first audio of an answer goes out and once it has been quiet
 *   for a moment (a pause between two clauses on a slow machine stops it too).
 * - owes an answer: from the user's words being known (a final `transcription` sent back
 *   by the STT stage, or a typed turn) until the answer has been synthesized (the TTS stage
 *   sends `llm-response-end` back) and spoken (`bot-stopped-speaking` after that), or
 *   until an interruption drops it. An utterance that transcribes to nothing owes nothing.
 * - busy: speaking or owing an answer; new speech then is a barge-in.
 * - playsAudio: this pipeline has ever played the bot's audio (a text-only one never does),
 *   so a reply counts as heard only as far as the output reports it.
 *
 * This file is the bottom layer: it imports nothing from the agent but frames.
 */
import type { Frame } from "./frames";

export class BotState {
  private speakingNow = false;
  private owed = false;
  private synthesized = false;
  private audio = false;
  private readonly seen = new WeakSet<Frame>();

  get speaking(): boolean {
    return this.speakingNow;
  }

  get busy(): boolean {
    return this.speakingNow || this.owed;
  }

  get playsAudio(): boolean {
    return this.audio;
  }

  /** A frame travelling upstream; the ones above change the state, the rest are ignored. */
  observe(f: Frame): void {
    if (this.seen.has(f)) return;
    this.seen.add(f);
    switch (f.type) {
      case "transcription":
        if (f.final) this.answerOwed();
        return;
      case "bot-started-speaking":
        this.speakingNow = true;
        this.audio = true;
        return;
      case "llm-response-end":
        this.synthesized = true;
        if (!this.speakingNow) this.owed = false;
        return;
      case "bot-stopped-speaking":
        this.speakingNow = false;
        if (this.synthesized) this.owed = false;
        return;
      default:
        return;
    }
  }

  /** The user's words are known (a typed turn; spoken ones arrive as a final transcription). */
  answerOwed(): void {
    this.owed = true;
    this.synthesized = false;
  }

  /** An interruption dropped the answer: the speech that cut in is the next turn. */
  answerDropped(): void {
    this.owed = false;
  }
}
