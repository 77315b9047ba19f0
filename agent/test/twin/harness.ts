/**
 * Runs a TwinService in a real Pipeline, optionally followed by a "speaker" that plays
 * the output transport's part: it reports each llm-text upstream as `bot-spoken-text`
 * once "heard" (the real transport does it when the audio carrying the words is sent).
 */
import { FrameProcessor, Pipeline, frame, type Direction, type Frame } from "../../src/pipeline";
import { TwinService, type TwinServiceOptions, type TwinTurnInfo } from "../../src/twin";

export class Speaker extends FrameProcessor {
  spoken: string[] = [];

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type === "llm-text" && direction === "downstream") {
      this.spoken.push(f.text);
      this.push(frame("bot-spoken-text", { text: f.text }), "upstream");
    }
    this.push(f, direction);
  }
}

/** A speaker that got only its first `keep` chunks out before the audio stopped. */
export class PartialSpeaker extends Speaker {
  constructor(private readonly keep: number) {
    super();
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type === "llm-text" && this.spoken.length >= this.keep) return;
    return super.process(f, direction);
  }
}

export interface Harness {
  twin: TwinService;
  pipeline: Pipeline;
  out: Frame[];
  upstream: Frame[];
  turns: TwinTurnInfo[];
  logs: string[];
  /** Sends a final transcript and waits for the answer to end (or the pipeline to go idle). */
  say(text: string): Promise<{ text: string; frames: Frame[]; turn: TwinTurnInfo | undefined }>;
  stop(): Promise<void>;
}

export function startHarness(options: TwinServiceOptions, extra: { speaker?: FrameProcessor } = {}): Harness {
  const out: Frame[] = [];
  const upstream: Frame[] = [];
  const turns: TwinTurnInfo[] = [];
  const logs: string[] = [];
  const twin = new TwinService({
    log: (line) => logs.push(line),
    ...options,
    onTurn: (info) => {
      turns.push(info);
      options.onTurn?.(info);
    },
  });
  const pipeline = new Pipeline(extra.speaker ? [twin, extra.speaker] : [twin], {
    onDownstreamOut: (f) => out.push(f),
    onUpstreamOut: (f) => upstream.push(f),
  });
  pipeline.start();
  let nextTurn = 1;
  return {
    twin, pipeline, out, upstream, turns, logs,
    async say(text: string) {
      const from = out.length;
      const turnsBefore = turns.length;
      pipeline.queueFrame(frame("transcription", { text, final: true, turnId: nextTurn++ }));
      await pipeline.idle();
      const frames = out.slice(from);
      const said = frames.map((f) => (f.type === "llm-text" ? f.text : "")).join("");
      return { text: said, frames, turn: turns.length > turnsBefore ? turns[turns.length - 1] : undefined };
    },
    stop: () => pipeline.stop(),
  };
}
