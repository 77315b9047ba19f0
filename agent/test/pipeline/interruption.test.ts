import { Direction, Frame, FrameProcessor, Pipeline, frame } from "../../src/pipeline";

/** Emits each llm-text word as a separate tts-text, slowly, like a TTS stage would. */
class SlowWords extends FrameProcessor {
  aborted = 0;
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type !== "llm-text") return this.push(f, direction);
    const signal = this.signal;
    for (const word of f.text.split(" ")) {
      await new Promise<void>((resolve) => {
        const onAbort = () => { clearTimeout(timer); resolve(); };
        const timer = setTimeout(() => { signal.removeEventListener("abort", onAbort); resolve(); }, 20);
        signal.addEventListener("abort", onAbort, { once: true });
      });
      if (signal.aborted) { this.aborted++; return; }
      this.push(frame("tts-text", { text: word }));
    }
  }
}

/** Keeps pushing after an abort, like a service that ignores its AbortSignal. */
class IgnoresAbort extends FrameProcessor {
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type !== "llm-text") return this.push(f, direction);
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      this.push(frame("tts-text", { text: `${f.text}-${i}` }));
    }
  }
}

function collect(processors: FrameProcessor[]) {
  const down: Frame[] = [];
  const up: Frame[] = [];
  const pipeline = new Pipeline(processors, { onDownstreamOut: (f) => down.push(f), onUpstreamOut: (f) => up.push(f) });
  return { pipeline, down, up };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("interrupting the bot", () => {
  it("keeps data frames in order when nothing interrupts", async () => {
    const { pipeline, down } = collect([new SlowWords()]);
    pipeline.queueFrame(frame("llm-text", { text: "one two" }));
    pipeline.queueFrame(frame("llm-text", { text: "three" }));
    await pipeline.idle();
    expect(down.map((f) => (f.type === "tts-text" ? f.text : f.type))).toEqual(["one", "two", "three"]);
  });

  it("drops queued text and aborts the word in flight when the user barges in", async () => {
    const slow = new SlowWords();
    const { pipeline, down } = collect([slow]);
    pipeline.queueFrame(frame("llm-text", { text: "a b c d e f" }));
    pipeline.queueFrame(frame("llm-text", { text: "stale sentence" }));
    await sleep(50);
    pipeline.queueFrame(frame("interruption"));
    await pipeline.idle();
    const words = down.filter((f) => f.type === "tts-text").map((f) => (f as { text: string }).text);
    expect(words.length).toBeGreaterThan(0);
    expect(words.length).toBeLessThan(6);
    expect(words).not.toContain("stale");
    expect(slow.aborted).toBe(1);
    expect(down.some((f) => f.type === "interruption")).toBe(true);
  });

  it("lets nothing from the interrupted answer through even if a stage ignores the abort", async () => {
    const { pipeline, down } = collect([new IgnoresAbort()]);
    pipeline.queueFrame(frame("llm-text", { text: "old" }));
    await sleep(25);
    pipeline.queueFrame(frame("interruption"));
    pipeline.queueFrame(frame("llm-text", { text: "new" }));
    await pipeline.idle();
    const texts = down.filter((f) => f.type === "tts-text").map((f) => (f as { text: string }).text);
    const cut = down.findIndex((f) => f.type === "interruption");
    expect(down.slice(cut).some((f) => f.type === "tts-text" && f.text.startsWith("old"))).toBe(false);
    expect(texts.filter((t) => t.startsWith("new"))).toEqual(["new-0", "new-1", "new-2", "new-3", "new-4"]);
  });

  it("never lets the new turn overtake the interruption that makes room for it, however many are queued", async () => {
    /** Takes 2 ms per microphone frame (a VAD on a slow CPU): its system lane is busy. */
    class SlowListener extends FrameProcessor {
      protected async process(f: Frame, direction: Direction): Promise<void> {
        if (f.type === "input-audio") await sleep(2);
        this.push(f, direction);
      }
    }
    class Pass extends FrameProcessor {}
    const { pipeline, down } = collect([new SlowListener(), new Pass(), new Pass()]);
    const mic = () => frame("input-audio", { pcm: new Int16Array(512), sampleRate: 16000 });
    // The user types while the microphone still streams, then types again and again.
    for (let turn = 1; turn <= 5; turn++) {
      for (let i = 0; i < 5; i++) pipeline.queueFrame(mic());
      pipeline.queueFrame(frame("interruption"));
      pipeline.queueFrame(frame("transcription", { text: `turn ${turn}`, final: true, turnId: turn }));
    }
    await pipeline.idle();
    const order = down.filter((f) => f.type === "interruption" || f.type === "transcription").map((f) => (f.type === "transcription" ? f.text : "|"));
    // Every turn but the last is superseded; the last comes after every interruption.
    expect(order).toEqual(["|", "|", "|", "|", "|", "turn 5"]);
  });

  it("passes system frames ahead of queued data", async () => {
    const { pipeline, down } = collect([new SlowWords()]);
    pipeline.queueFrame(frame("llm-text", { text: "a b c" }));
    pipeline.queueFrame(frame("user-started-speaking"));
    await pipeline.idle();
    expect(down[0].type).toBe("user-started-speaking");
  });

  it("keeps the words the user already heard flowing upstream through an interruption", async () => {
    const { pipeline, up } = collect([new SlowWords(), new SlowWords()]);
    pipeline.queueFrame(frame("bot-spoken-text", { text: "heard" }), "upstream");
    pipeline.queueFrame(frame("interruption"));
    await pipeline.idle();
    expect(up.filter((f) => f.type === "bot-spoken-text")).toHaveLength(1);
  });

  it("turns a stage's failure into an error frame upstream and keeps running", async () => {
    class Fails extends FrameProcessor {
      protected async process(f: Frame, direction: Direction): Promise<void> {
        if (f.type === "llm-text" && f.text === "boom") throw new Error("backend exploded");
        this.push(f, direction);
      }
    }
    const { pipeline, down, up } = collect([new Fails()]);
    pipeline.queueFrame(frame("llm-text", { text: "boom" }));
    pipeline.queueFrame(frame("llm-text", { text: "fine" }));
    await pipeline.idle();
    expect(up).toEqual([expect.objectContaining({ type: "error", fatal: false, message: "Fails: backend exploded" })]);
    expect(down).toEqual([expect.objectContaining({ type: "llm-text", text: "fine" })]);
  });

  it("stops cleanly: cancel drops everything and cleanup runs once per stage", async () => {
    let cleaned = 0;
    class Counted extends SlowWords {
      async cleanup(): Promise<void> { cleaned++; }
    }
    const { pipeline, down } = collect([new Counted(), new Counted()]);
    pipeline.queueFrame(frame("llm-text", { text: "a b c d e f g" }));
    await sleep(30);
    await pipeline.stop();
    await pipeline.stop();
    const after = down.length;
    pipeline.queueFrame(frame("llm-text", { text: "late" }));
    await sleep(50);
    expect(cleaned).toBe(2);
    expect(down.length).toBe(after);
    expect(down.some((f) => f.type === "cancel")).toBe(true);
  });
});
