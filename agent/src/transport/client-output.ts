/**
 * ClientOutputTransport: the last stage. Sends bot audio to the client paced in real
 * time, tells the page what is happening (RTVI), and reports upstream which words
 * were actually sent (`bot-spoken-text`) and when the bot starts/stops speaking.
 *
 * Why pacing: pipecat's browser client never flushes its playback buffer on an
 * interruption (checked: neither `user-started-speaking` nor an interruption frame stops
 * it), so everything sent will be heard. Sending a whole reply at once made it keep
 * talking 17 s after a barge-in. Keeping at most `leadMs` queued at the client bounds
 * how long the bot can go on after the user cuts in.
 *
 * For the same reason everything sent counts as heard. A clause cut partway keeps the
 * words its sent audio covers, by a proportional estimate: sent samples ÷ the voice's
 * samples per character, measured on this session's finished clauses (until there is
 * one, 14 characters a second, espeak-ng's default 175 words a minute), rounded down
 * to whole words.
 */
import { sleep } from "../abort";
import { Direction, Frame, FrameProcessor, OutputAudioFrame, TurnCounter, frame } from "../pipeline";
import { ClientLink } from "./client-link";
import { CLIENT_OUTPUT_SAMPLE_RATE } from "./wire";

export interface ClientOutputOptions {
  /** Audio queued ahead at the client; the most the bot can say after an interruption. */
  leadMs?: number;
  /** Silence after the last sent audio before the bot counts as stopped. */
  stoppedAfterMs?: number;
  /** Smallest send once the client's buffer is full, so pacing stays fine-grained. */
  sendChunkMs?: number;
  turns?: TurnCounter;
}

/** Speaking rate assumed until a clause has been measured: espeak-ng's 175 words a minute. */
const DEFAULT_CHARS_PER_SECOND = 14;

/** The leading whole words of `text` that end within its first `chars` characters. */
export function wordsWithin(text: string, chars: number): string {
  let end = 0;
  for (const m of text.matchAll(/\S+/g)) {
    const wordEnd = (m.index ?? 0) + m[0].length;
    if (wordEnd > chars) break;
    end = wordEnd;
  }
  return text.slice(0, end).trim();
}

export class ClientOutputTransport extends FrameProcessor {
  private readonly leadMs: number;
  private readonly stoppedAfterMs: number;
  private readonly sendChunkSamples: number;
  private readonly turns: TurnCounter | undefined;
  /** `performance.now()` at which the client will have played everything sent. */
  private playheadMs = 0;
  private speaking = false;
  private stopTimer: NodeJS.Timeout | undefined;
  /** The clause whose audio is going out, and how many of its samples have been sent. */
  private clause: { text: string; sentSamples: number } | undefined;
  private samplesPerChar = CLIENT_OUTPUT_SAMPLE_RATE / DEFAULT_CHARS_PER_SECOND;

  constructor(private readonly client: ClientLink, options: ClientOutputOptions = {}) {
    super();
    this.leadMs = options.leadMs ?? 80;
    this.stoppedAfterMs = options.stoppedAfterMs ?? 300;
    this.sendChunkSamples = Math.round(((options.sendChunkMs ?? 20) * CLIENT_OUTPUT_SAMPLE_RATE) / 1000);
    this.turns = options.turns;
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "upstream") return this.push(f, direction);
    switch (f.type) {
      case "output-audio": return this.sendPaced(f);
      case "interruption":
      case "cancel":
        this.stopSpeaking();
        return this.push(f);
      case "user-started-speaking": return this.client.sendRtvi("user-started-speaking");
      case "user-stopped-speaking": return this.client.sendRtvi("user-stopped-speaking");
      case "llm-response-start": return this.client.sendRtvi("bot-llm-started");
      case "llm-response-end": return this.client.sendRtvi("bot-llm-stopped");
      case "llm-text": return this.client.sendRtvi("bot-llm-text", { text: f.text });
      case "tts-started": return this.client.sendRtvi("bot-tts-started");
      case "tts-stopped": return this.client.sendRtvi("bot-tts-stopped");
      case "tts-text": return this.client.sendRtvi("bot-tts-text", { text: f.text });
      case "error": return this.client.sendError(f.message, f.fatal);
      case "metrics": return this.client.onMetrics(f);
      default: return;
    }
  }

  protected onInterruption(): void {
    const cut = this.clause;
    this.clause = undefined;
    if (!cut) return;
    const heard = wordsWithin(cut.text, cut.sentSamples / this.samplesPerChar);
    if (!heard) return;
    this.push(frame("bot-spoken-text", { text: heard, partial: true }), "upstream");
    this.client.sendRtvi("bot-output", { text: heard, spoken: true, aggregated_by: "word" });
  }

  async cleanup(): Promise<void> {
    clearTimeout(this.stopTimer);
  }

  private async sendPaced(f: OutputAudioFrame): Promise<void> {
    if (f.sampleRate !== CLIENT_OUTPUT_SAMPLE_RATE) {
      throw new Error(`output audio at ${f.sampleRate} Hz: pipecat's player plays ${CLIENT_OUTPUT_SAMPLE_RATE} Hz only — resample in the TTS stage`);
    }
    const signal = this.signal;
    const sendMs = (this.sendChunkSamples * 1000) / CLIENT_OUTPUT_SAMPLE_RATE;
    for (let at = 0; at < f.pcm.length;) {
      // Wait until at least one send's worth fits under the lead, then send all that fits
      // (fewer, larger messages when the client's buffer is low, e.g. as a reply starts).
      let ahead = Math.max(0, this.playheadMs - performance.now());
      if (ahead > this.leadMs - sendMs) {
        await sleep(ahead - (this.leadMs - sendMs), signal);
        ahead = Math.max(0, this.playheadMs - performance.now());
      }
      if (signal.aborted || !this.client.isOpen) return;
      const fits = Math.max(this.sendChunkSamples, Math.floor(((this.leadMs - ahead) * CLIENT_OUTPUT_SAMPLE_RATE) / 1000));
      const piece = f.pcm.subarray(at, Math.min(f.pcm.length, at + fits));
      at += piece.length;
      this.startSpeaking();
      this.client.sendAudio(piece, CLIENT_OUTPUT_SAMPLE_RATE);
      this.countClause(f.clause, piece.length);
      this.playheadMs = Math.max(this.playheadMs, performance.now()) + (piece.length * 1000) / CLIENT_OUTPUT_SAMPLE_RATE;
      this.armStopTimer();
    }
    if (f.text) {
      this.finishClause(f.text);
      this.push(frame("bot-spoken-text", { text: f.text }), "upstream");
      this.client.sendRtvi("bot-output", { text: f.text, spoken: true, aggregated_by: "sentence" });
    }
  }

  private countClause(text: string | undefined, samples: number): void {
    if (text === undefined) return;
    if (this.clause?.text !== text) this.clause = { text, sentSamples: 0 };
    this.clause.sentSamples += samples;
  }

  /** The whole clause went out: learn how fast this voice speaks. */
  private finishClause(text: string): void {
    const done = this.clause;
    this.clause = undefined;
    const chars = text.trim().length;
    if (done?.text === text && chars >= 8) this.samplesPerChar = done.sentSamples / chars;
  }

  private startSpeaking(): void {
    if (this.speaking) return;
    this.speaking = true;
    this.client.sendRtvi("bot-started-speaking");
    this.push(frame("bot-started-speaking"), "upstream");
    if (this.turns) this.client.onMetrics(frame("metrics", { turnId: this.turns.current, mark: "bot-started-speaking", at: performance.now() }));
  }

  private armStopTimer(): void {
    clearTimeout(this.stopTimer);
    const untilQuiet = this.playheadMs - performance.now() + this.stoppedAfterMs;
    this.stopTimer = setTimeout(() => this.stopSpeaking(), Math.max(0, untilQuiet));
  }

  private stopSpeaking(): void {
    clearTimeout(this.stopTimer);
    this.playheadMs = 0;
    if (!this.speaking) return;
    this.speaking = false;
    this.client.sendRtvi("bot-stopped-speaking");
    this.push(frame("bot-stopped-speaking"), "upstream");
  }
}
