import { Frame, Pipeline, TurnCounter, frame } from "../../src/pipeline";
import { TtsProcessor } from "../../src/processors";
import type { TextToSpeech } from "../../src/services/tts";

/** Three 40 ms chunks per clause, each a few ms apart, like a fast voice. */
const voice: TextToSpeech & { started: string[] } = {
  sampleRate: 24000,
  name: "test-voice",
  started: [],
  async *synthesize(text, signal) {
    voice.started.push(text);
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (signal?.aborted) return;
      yield new Int16Array(960);
    }
  },
};

function setup() {
  voice.started = [];
  const down: Frame[] = [];
  const pipeline = new Pipeline([new TtsProcessor(voice, new TurnCounter())], { onDownstreamOut: (f) => down.push(f) });
  return { pipeline, down };
}

describe("speaking the brain's streamed text", () => {
  it("starts on the first clause before the answer is complete, and marks each clause's last chunk with its words", async () => {
    const { pipeline, down } = setup();
    pipeline.queueFrame(frame("llm-response-start", { turnId: 1 }));
    for (const token of ["Sure, ", "I can ", "see a cup. ", "It is red."]) pipeline.queueFrame(frame("llm-text", { text: token }));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(voice.started[0]).toBe("Sure,");
    pipeline.queueFrame(frame("llm-response-end", { turnId: 1 }));
    await pipeline.idle();
    const audio = down.filter((f): f is Extract<Frame, { type: "output-audio" }> => f.type === "output-audio");
    expect(audio.map((a) => a.text ?? "")).toEqual(["", "", "Sure,", "", "", "I can see a cup.", "", "", "It is red."]);
    expect(down.some((f) => f.type === "metrics" && f.mark === "tts-first-audio")).toBe(true);
  });

  it("speaks the first four words at once when the LLM generates slower than speech, the first clause when faster", async () => {
    const words = ["The ", "kitchen ", "light ", "is ", "still ", "on, ", "and ", "the ", "door ", "is ", "open. ", "Shall ", "I ", "remind ", "you?"];
    const firstPieces = async (tokensPerSecond: number | undefined) => {
      const { pipeline } = setup();
      pipeline.queueFrame(frame("llm-response-start", { turnId: 1, tokensPerSecond }));
      for (const w of words) pipeline.queueFrame(frame("llm-text", { text: w }));
      pipeline.queueFrame(frame("llm-response-end", { turnId: 1 }));
      await pipeline.idle();
      return voice.started.slice();
    };
    // A Core 2's 1.5 tokens/s (and before any measurement): four words, then clause-sized pieces.
    expect(await firstPieces(1.5)).toEqual(["The kitchen light is", "still on, and the door is open.", "Shall I remind you?"]);
    expect((await firstPieces(undefined))[0]).toBe("The kitchen light is");
    // Faster than speech: the first clause, as before.
    expect(await firstPieces(20)).toEqual(["The kitchen light is still on,", "and the door is open.", "Shall I remind you?"]);
  });

  it("stops mid-clause on an interruption and speaks nothing of the old answer afterwards", async () => {
    const { pipeline, down } = setup();
    pipeline.queueFrame(frame("llm-response-start", { turnId: 1 }));
    pipeline.queueFrame(frame("llm-text", { text: "One two three four five six seven eight nine ten. Eleven twelve." }));
    await new Promise((resolve) => setTimeout(resolve, 8));
    pipeline.queueFrame(frame("interruption"));
    pipeline.queueFrame(frame("llm-text", { text: " leftover words" }));
    pipeline.queueFrame(frame("llm-response-end", { turnId: 1 }));
    await pipeline.idle();
    const cut = down.findIndex((f) => f.type === "interruption");
    expect(down.slice(cut).filter((f) => f.type === "output-audio")).toEqual([]);
    expect(voice.started.join(" ")).not.toContain("Eleven");
  });
});
