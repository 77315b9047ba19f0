/**
 * TtsProcessor: speaks the brain's streamed text as it arrives, starting on the first
 * clause. Each clause's last audio chunk carries the clause's words, so the output
 * transport can report exactly which words were heard.
 *
 * When the LLM generates slower than a voice speaks (a Core 2 makes 1–3 tokens/s; speech
 * is about 2.5 words, 3.5 tokens, a second), waiting for a whole first clause keeps the
 * user waiting for words that will then be spoken faster than they come: the first
 * piece is the first clause or the first `firstWordsWhenSlow` words, whichever comes
 * first. The brain tells the rate it measured (llm-response-start's tokensPerSecond);
 * before any measurement generation is taken to be slow. Later pieces stay clause-sized.
 */
import { Direction, Frame, FrameProcessor, TurnCounter, frame } from "../pipeline";
import { ClauseSplitter, TextToSpeech, firstClauseSplitter } from "../services/tts";

/** About how fast a voice speaks, in LLM tokens a second: generation below it is "slow". */
export const SPEECH_TOKENS_PER_S = 3.5;

export interface TtsProcessorOptions {
  /** First piece's word cap when generation is slower than speech (default 4; 0: the first clause as usual). */
  firstWordsWhenSlow?: number;
}

export class TtsProcessor extends FrameProcessor {
  private readonly splitter: ClauseSplitter;
  private readonly firstWordsWhenSlow: number;
  private firstAudioSent = true;
  private speaking = false;
  /** After an interruption, text is the old answer's until a new response starts. */
  private cutOff = false;

  constructor(private readonly tts: TextToSpeech, private readonly turns: TurnCounter, splitter: ClauseSplitter = firstClauseSplitter(), options: TtsProcessorOptions = {}) {
    super();
    this.splitter = splitter;
    this.firstWordsWhenSlow = options.firstWordsWhenSlow ?? 4;
  }

  protected onInterruption(): void {
    this.splitter.reset();
    this.speaking = false;
    this.cutOff = true;
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "upstream") return this.push(f, direction);
    switch (f.type) {
      case "llm-response-start": {
        this.cutOff = false;
        const slow = f.tokensPerSecond === undefined || f.tokensPerSecond < SPEECH_TOKENS_PER_S;
        this.splitter.reset(slow && this.firstWordsWhenSlow > 0 ? { firstMaxWords: this.firstWordsWhenSlow } : {});
        this.firstAudioSent = false;
        return this.push(f);
      }
      case "llm-text":
        if (this.cutOff) return;
        this.push(f);
        for (const clause of this.splitter.push(f.text)) await this.speak(clause);
        return;
      case "tts-text":
        // Text meant to be spoken as is (e.g. the brain explaining that the LLM is down).
        return this.speak(f.text);
      case "llm-response-end":
        if (this.cutOff) return;
        for (const clause of this.splitter.flush()) await this.speak(clause);
        if (this.speaking) {
          this.speaking = false;
          this.push(frame("tts-stopped"));
        }
        this.push(f);
        // Upstream too: an answer that ended without audio owes the user nothing more
        // (the session's BotState; new speech is no longer a barge-in).
        return this.push(f, "upstream");
      default:
        return this.push(f, direction);
    }
  }

  private async speak(text: string): Promise<void> {
    const signal = this.signal;
    if (!this.speaking) {
      this.speaking = true;
      this.push(frame("tts-started"));
    }
    this.push(frame("tts-text", { text }));
    // One chunk of lookahead, so the clause's last chunk can carry its words.
    let previous: Int16Array | undefined;
    for await (const pcm of this.tts.synthesize(text, signal)) {
      if (signal.aborted) return;
      if (!this.firstAudioSent) {
        this.firstAudioSent = true;
        this.push(frame("metrics", { turnId: this.turns.current, mark: "tts-first-audio", at: performance.now() }));
      }
      if (previous) this.push(frame("output-audio", { pcm: previous, sampleRate: this.tts.sampleRate, clause: text }));
      previous = pcm;
    }
    if (previous && !signal.aborted) this.push(frame("output-audio", { pcm: previous, sampleRate: this.tts.sampleRate, text, clause: text }));
  }
}
