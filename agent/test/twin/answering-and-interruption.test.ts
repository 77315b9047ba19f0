/**
 * The brain in a real pipeline against a real llama-server (tiny model): it answers a
 * final transcript as a stream, is cut off within one chunk when the user talks over it
 * and remembers only the heard words, keeps 10 turns, and shrugs off bad transcripts.
 */
import { frame, type Frame } from "../../src/pipeline";
import type { RunningProcess } from "../../../lib/llama";
import { startTinyLlm } from "../llm/tiny-llm";
import { PrefillEcho } from "../../src/twin/twin-service";
import { PartialSpeaker, Speaker, startHarness, type Harness } from "./harness";

const types = (frames: Frame[]) => frames.map((f) => f.type).filter((t) => t !== "metrics");

describe("TwinService answering", () => {
  let server: RunningProcess;
  let h: Harness | undefined;

  beforeAll(async () => {
    server = await startTinyLlm();
  });
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const llm = () => ({ baseUrl: server.url, slotId: 0, maxTokens: 12, temperature: 0, seed: 1 });

  it("streams llm-text between llm-response-start and llm-response-end and stamps the first token", async () => {
    h = startHarness({ llm: llm() });
    const { frames, turn } = await h.say("hello, how are you?");
    const seen = types(frames);
    // The final transcript is consumed here (it becomes the prompt), not passed to TTS.
    expect(seen[0]).toBe("llm-response-start");
    expect(seen[seen.length - 1]).toBe("llm-response-end");
    expect(seen.filter((t) => t === "llm-text").length).toBeGreaterThan(3);
    const mark = frames.find((f) => f.type === "metrics");
    expect(mark).toMatchObject({ type: "metrics", turnId: 1, mark: "llm-first-token" });
    // The mark comes before the first word reaches TTS.
    expect(frames.indexOf(mark!)).toBeLessThan(frames.findIndex((f) => f.type === "llm-text"));
    expect(turn?.outcome).toBe("answered");
    expect(turn?.promptTokens[0]).toBeGreaterThan(10);
  });

  it("stops answering within one chunk when the user interrupts, and history keeps only what was heard", async () => {
    const speaker = new Speaker();
    h = startHarness({ llm: { ...llm(), maxTokens: 2000 } }, { speaker });
    const harness = h;
    let textsAfterInterrupt = 0;
    let interrupted = false;
    const done = new Promise<void>((resolve) => {
      const original = harness.out.push.bind(harness.out);
      harness.out.push = (...items: Frame[]) => {
        for (const f of items) {
          if (f.type === "llm-text" && interrupted) textsAfterInterrupt++;
          if (f.type === "llm-text" && !interrupted && speaker.spoken.length === 5) {
            interrupted = true;
            harness.pipeline.queueFrame(frame("interruption"));
            setTimeout(resolve, 300);
          }
        }
        return original(...items);
      };
    });
    harness.pipeline.queueFrame(frame("transcription", { text: "tell me everything you know", final: true, turnId: 1 }));
    await done;
    const idleStarted = Date.now();
    await harness.pipeline.idle();
    expect(Date.now() - idleStarted).toBeLessThan(100);
    expect(textsAfterInterrupt).toBe(0);
    // No llm-response-end for an answer the user talked over.
    expect(harness.out.some((f) => f.type === "llm-response-end")).toBe(false);
    const [turn] = harness.twin.shortTerm.snapshot();
    expect(turn.user).toBe("tell me everything you know");
    expect(turn.assistant.trim()).toBe(speaker.spoken.join("").trim());
    expect(speaker.spoken.length).toBe(5);
    // The server stopped generating (its slot is free for the next turn), long before 2000 tokens.
    const slots = (await (await fetch(`${server.url}/slots`)).json()) as { is_processing: boolean }[];
    expect(slots.some((slot) => slot.is_processing)).toBe(false);
  });

  it("pauses while speech over it may be a barge-in and, when it was only a cough, goes on from its own text: the same reply", async () => {
    const question = "tell me about the sea";
    h = startHarness({ llm: { ...llm(), maxTokens: 16 } }, { speaker: new Speaker() });
    const whole = await h.say(question);
    const promptLength = whole.turn!.timings[0].promptTokens + (whole.turn!.timings[0].cachedTokens ?? 0);
    await h.stop();

    const speaker = new Speaker();
    h = startHarness({ llm: { ...llm(), maxTokens: 16 } }, { speaker });
    const harness = h;
    const texts = () => harness.out.filter((f) => f.type === "llm-text").length;
    const held = new Promise<void>((resolve) => {
      const original = harness.out.push.bind(harness.out);
      harness.out.push = (...items: Frame[]) => {
        const n = original(...items);
        if (items.some((f) => f.type === "llm-text") && speaker.spoken.length === 4) {
          harness.pipeline.queueFrame(frame("barge-in-pending"));
          resolve();
        }
        return n;
      };
    });
    harness.pipeline.queueFrame(frame("transcription", { text: question, final: true, turnId: 1 }));
    await held;
    await new Promise((r) => setTimeout(r, 200));
    const paused = texts();
    await new Promise((r) => setTimeout(r, 500));
    expect(texts()).toBe(paused); // nothing generated while held
    expect(harness.out.some((f) => f.type === "llm-response-end")).toBe(false);
    // Too short to be a barge-in: the reply goes on where it stopped.
    harness.pipeline.queueFrame(frame("barge-in-withdrawn"));
    await harness.pipeline.idle();
    const resumed = harness.turns[0];
    expect(resumed.outcome).toBe("answered");
    expect(resumed.generated).toBe(whole.turn!.generated);
    expect(harness.out.filter((f) => f.type === "llm-response-end")).toHaveLength(1);
    // The rest was asked as a continuation of the text so far, which the server had cached:
    // only the stopped stream's last token (or none) evaluated again.
    expect(resumed.timings).toHaveLength(1);
    expect(resumed.timings[0].cachedTokens).toBeGreaterThanOrEqual(promptLength + paused - 2);
    expect(resumed.timings[0].promptTokens).toBeLessThanOrEqual(2);
    expect(harness.twin.shortTerm.snapshot()[0].assistant.trim()).toBe(whole.turn!.generated.trim());
  });

  it("says a continuation once, whether or not the server repeats the text it was given to go on from", () => {
    const repeated = new PrefillEcho(" Grill the");
    expect([" Grill", " the", " fish", "."].map((piece) => repeated.take(piece))).toEqual(["", "", " fish", "."]);
    const split = new PrefillEcho("Grill the"); // the chat parser dropped the leading space
    expect([" Grill the fish", "."].map((piece) => split.take(piece))).toEqual([" fish", "."]);
    const fresh = new PrefillEcho(" Grill the"); // a server that streams only the new tokens
    expect([" fish", " now"].map((piece) => fresh.take(piece))).toEqual([" fish", " now"]);
    const close = new PrefillEcho(" Grill the"); // starts like it, then is not it: nothing held back is lost
    expect([" Grill", " a fish"].map((piece) => close.take(piece))).toEqual(["", " Grill a fish"]);
  });

  it("writes the reply from the words the output reports as heard, not from what was generated", async () => {
    const speaker = new PartialSpeaker(3);
    h = startHarness({ llm: llm() }, { speaker });
    const { turn: info } = await h.say("what is the weather like");
    const [turn] = h.twin.shortTerm.snapshot();
    expect(speaker.spoken).toHaveLength(3);
    expect(turn.assistant.trim()).toBe(speaker.spoken.join("").trim());
    expect(info!.generated.startsWith(speaker.spoken.join(""))).toBe(true);
    expect(turn.assistant.length).toBeLessThan(info!.generated.trim().length);
  });

  it("keeps the heard words of a clause cut partway in the cut reply, even once the next turn has begun", async () => {
    const speaker = new PartialSpeaker(2);
    h = startHarness({ llm: llm() }, { speaker });
    h.pipeline.queueFrame(frame("bot-started-speaking"), "upstream"); // audio goes out: only reported words count
    await h.say("what is the weather like");
    h.pipeline.queueFrame(frame("interruption"));
    await h.say("and tomorrow");
    // The output transport's estimate for the clause that was cut, arriving late.
    h.pipeline.queueFrame(frame("bot-spoken-text", { text: "it is", partial: true }), "upstream");
    await h.pipeline.idle();
    const [cut, next] = h.twin.shortTerm.snapshot();
    expect(cut.assistant.replace(/\s+/g, " ").trim()).toBe(`${speaker.spoken.slice(0, 2).join("").trim()} it is`.replace(/\s+/g, " "));
    expect(next.assistant).not.toMatch(/it is$/);
  });

  it("does not cut a reply that was already delivered when the user speaks again later", async () => {
    // Text-only pipeline (no audio out): the whole reply reached the user.
    h = startHarness({ llm: llm() });
    const { turn } = await h.say("hello there");
    h.pipeline.queueFrame(frame("interruption"));
    await h.pipeline.idle();
    expect(h.twin.shortTerm.snapshot()[0].assistant).toBe(turn!.generated);
  });

  it("keeps the last 10 turns in the prompt", async () => {
    h = startHarness({ llm: { ...llm(), maxTokens: 3 } }, { speaker: new Speaker() });
    for (let i = 1; i <= 12; i++) await h.say(`message number ${i}`);
    const last = h.turns[h.turns.length - 1];
    const users = last.messages.filter((m) => m.role === "user").map((m) => m.content);
    // The 10 turns before it (2..11), then the new one.
    expect(users[0]).toBe("message number 2");
    expect(users).toHaveLength(11);
    expect(users[10]).toBe("message number 12");
    expect(last.messages.filter((m) => m.role === "assistant")).toHaveLength(10);
    // The 10 earlier turns and the last one.
    expect(h.twin.shortTerm.size).toBe(11);
  });

  it("ignores an empty or noise-only transcript without calling the model", async () => {
    h = startHarness({ llm: llm() });
    for (const text of ["", "   ", "…", " . "]) {
      const { frames } = await h.say(text);
      expect(types(frames)).toEqual([]);
    }
    expect(h.turns).toHaveLength(0);
    expect(h.twin.shortTerm.size).toBe(0);
  });

  it("answers a 5,000-word transcript from its last 400 words, quickly, and says it cut it", async () => {
    h = startHarness({ llm: llm() });
    const words = Array.from({ length: 5000 }, (_, i) => `word${i}`);
    const started = Date.now();
    const { turn } = await h.say(words.join(" "));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(turn?.outcome).toBe("answered");
    const user = turn!.messages[turn!.messages.length - 1].content;
    expect(user.startsWith("… word4600 word4601")).toBe(true);
    expect(user).toContain("word4999");
    expect(user).not.toContain("word4599 ");
    expect(h.logs.join("\n")).toMatch(/transcript of 5000 words — kept its last 400/);
  });
});
