import { Frame, Pipeline, frame } from "../../src/pipeline";
import { InterruptionProcessor } from "../../src/processors";

/** 32 ms of mic audio. */
const chunk = () => frame("input-audio", { pcm: new Int16Array(512).fill(100), sampleRate: 16000 });

function setup(minMs = 300) {
  const down: Frame[] = [];
  const pipeline = new Pipeline([new InterruptionProcessor(minMs)], { onDownstreamOut: (f) => down.push(f) });
  return { pipeline, down, types: () => down.map((f) => f.type) };
}

describe("deciding when the user cuts the bot off", () => {
  it("passes speech straight through when the bot is quiet, without interrupting anything", async () => {
    const { pipeline, types } = setup();
    pipeline.queueFrame(frame("user-started-speaking"));
    pipeline.queueFrame(chunk());
    pipeline.queueFrame(frame("user-stopped-speaking"));
    await pipeline.idle();
    expect(types()).toEqual(["user-started-speaking", "input-audio", "user-stopped-speaking"]);
  });

  it("ignores a cough: speech shorter than the minimum while the bot talks is dropped, the bot goes on", async () => {
    const { pipeline, types } = setup();
    pipeline.queueFrame(frame("bot-started-speaking"), "upstream");
    pipeline.queueFrame(frame("user-started-speaking"));
    for (let i = 0; i < 5; i++) pipeline.queueFrame(chunk()); // 160 ms
    pipeline.queueFrame(frame("user-stopped-speaking"));
    await pipeline.idle();
    // The brain hears only that speech is held (it may pause), then that it was let go.
    expect(types()).toEqual(["barge-in-pending", "barge-in-withdrawn"]);
  });

  it("interrupts once speech has lasted the minimum, then hands on every held sample in order", async () => {
    const { pipeline, down, types } = setup();
    pipeline.queueFrame(frame("bot-started-speaking"), "upstream");
    pipeline.queueFrame(frame("user-started-speaking"));
    const sent = Array.from({ length: 12 }, chunk); // 384 ms
    for (const c of sent) pipeline.queueFrame(c);
    pipeline.queueFrame(frame("user-stopped-speaking"));
    await pipeline.idle();
    // Said at once (the brain stops generating), then the cut once it is sure.
    expect(types().slice(0, 3)).toEqual(["barge-in-pending", "interruption", "user-started-speaking"]);
    expect(types().filter((t) => t === "interruption")).toHaveLength(1);
    expect(types()).not.toContain("barge-in-withdrawn");
    expect(down.filter((f) => f.type === "input-audio")).toEqual(sent);
    expect(types()[types().length - 1]).toBe("user-stopped-speaking");
    // 300 ms = 9.4 chunks: the cut comes on the 10th, not before.
    const held = down.slice(3).findIndex((f) => f.type !== "input-audio");
    expect(held).toBe(12);
  });

  it("lets held speech through without an interruption when the bot finishes on its own", async () => {
    const { pipeline, types } = setup();
    pipeline.queueFrame(frame("bot-started-speaking"), "upstream");
    pipeline.queueFrame(frame("user-started-speaking"));
    pipeline.queueFrame(chunk());
    pipeline.queueFrame(frame("bot-stopped-speaking"), "upstream");
    pipeline.queueFrame(chunk());
    await pipeline.idle();
    // (withdrawn once the bot's news comes, which travels its own lane: before or after the first sample)
    expect(types().filter((t) => t !== "barge-in-withdrawn")).toEqual(["barge-in-pending", "user-started-speaking", "input-audio", "input-audio"]);
    expect(types().indexOf("barge-in-withdrawn")).toBeGreaterThan(types().indexOf("user-started-speaking"));
  });
});

describe("talking on while the bot is still thinking", () => {
  it("cuts off an answer that is still being worked out when the user goes on talking", async () => {
    const { pipeline, types } = setup();
    pipeline.queueFrame(frame("transcription", { text: "what is", final: true, turnId: 1 }), "upstream");
    pipeline.queueFrame(frame("user-started-speaking"));
    for (let i = 0; i < 12; i++) pipeline.queueFrame(chunk());
    await pipeline.idle();
    expect(types().slice(0, 2)).toEqual(["barge-in-pending", "interruption"]);
  });

  it("owes nothing once the answer ended without audio, so speech passes straight through again", async () => {
    const { pipeline, types } = setup();
    pipeline.queueFrame(frame("transcription", { text: "hm", final: true, turnId: 1 }), "upstream");
    pipeline.queueFrame(frame("llm-response-end", { turnId: 1 }), "upstream");
    await pipeline.idle(); // the news is in before the user speaks
    pipeline.queueFrame(frame("user-started-speaking"));
    pipeline.queueFrame(chunk());
    await pipeline.idle();
    expect(types()).toEqual(["user-started-speaking", "input-audio"]);
  });

  it("still counts speech as a barge-in while the bot pauses between clauses of an unfinished answer", async () => {
    const { pipeline, types } = setup();
    pipeline.queueFrame(frame("transcription", { text: "tell me a story", final: true, turnId: 1 }), "upstream");
    pipeline.queueFrame(frame("bot-started-speaking"), "upstream");
    pipeline.queueFrame(frame("bot-stopped-speaking"), "upstream"); // TTS slower than real time
    pipeline.queueFrame(frame("user-started-speaking"));
    for (let i = 0; i < 5; i++) pipeline.queueFrame(chunk()); // 160 ms: a cough
    pipeline.queueFrame(frame("user-stopped-speaking"));
    await pipeline.idle();
    expect(types()).toEqual(["barge-in-pending", "barge-in-withdrawn"]);
    pipeline.queueFrame(frame("llm-response-end", { turnId: 1 }), "upstream");
    pipeline.queueFrame(frame("user-started-speaking"));
    await pipeline.idle();
    expect(types()).toEqual(["barge-in-pending", "barge-in-withdrawn", "user-started-speaking"]);
  });
});
