import { SileroVad, TurnDetector, DEFAULT_VAD_PARAMS, VAD_FRAME_SAMPLES } from "../../src/services/vad";
import { Frame, Pipeline, TurnCounter, frame } from "../../src/pipeline";
import { VadProcessor } from "../../src/processors";
import { makeSpeech } from "./espeak-speech";

/** Runs a clip through Silero frame by frame and returns the detector's events. */
async function detect(pcm: Int16Array, vad: SileroVad) {
  const detector = new TurnDetector(DEFAULT_VAD_PARAMS, 32);
  const events = [];
  for (let at = 0; at + VAD_FRAME_SAMPLES <= pcm.length; at += VAD_FRAME_SAMPLES) {
    const p = await vad.probability(pcm.subarray(at, at + VAD_FRAME_SAMPLES));
    const event = detector.push(p, (at * 1000) / 16000);
    if (event) events.push(event);
  }
  return events;
}

describe("Silero VAD on real speech", () => {
  it("finds where espeak-ng speech padded with known silence starts and stops, within 100 ms", async () => {
    const clip = makeSpeech("The quick brown fox jumps over the lazy dog.", 1200, 1500);
    const vad = await SileroVad.load();
    const events = await detect(clip.pcm, vad);
    expect(events.map((e) => e.type)).toEqual(["start", "stop"]);
    expect(Math.abs(events[0].atMs - clip.speechStartMs)).toBeLessThanOrEqual(100);
    expect(Math.abs(events[1].atMs - clip.speechEndMs)).toBeLessThanOrEqual(100);
    expect(clip.speechStartMs).toBeGreaterThanOrEqual(1200);
  });

  it("hears nothing in silence or in quiet noise", async () => {
    const vad = await SileroVad.load();
    const noise = new Int16Array(16000 * 2).map(() => Math.round((Math.random() - 0.5) * 200));
    expect(await detect(new Int16Array(16000 * 2), vad)).toEqual([]);
    expect(await detect(noise, vad)).toEqual([]);
  });

  it("keeps its state per conversation: two interleaved streams give the same answers as alone", async () => {
    const clip = makeSpeech("Hello there, how are you?", 500, 800);
    const alone = await detect(clip.pcm, await SileroVad.load());
    const a = await SileroVad.load();
    const b = await SileroVad.load();
    const silence = new Int16Array(VAD_FRAME_SAMPLES);
    const probs: number[] = [];
    for (let at = 0; at + VAD_FRAME_SAMPLES <= clip.pcm.length; at += VAD_FRAME_SAMPLES) {
      probs.push(await a.probability(clip.pcm.subarray(at, at + VAD_FRAME_SAMPLES)));
      await b.probability(silence);
    }
    const detector = new TurnDetector(DEFAULT_VAD_PARAMS, 32);
    const interleaved = probs.map((p, i) => detector.push(p, i * 32)).filter((e) => e);
    expect(interleaved).toEqual(alone);
  });

  it("emits user-started/paused/stopped-speaking in the pipeline from 512-byte mic chunks, audio first", async () => {
    const clip = makeSpeech("Turn the lights off please.", 700, 1000);
    const out: Frame[] = [];
    const turns = new TurnCounter();
    const pipeline = new Pipeline([new VadProcessor(await SileroVad.load(), turns)], { onDownstreamOut: (f) => out.push(f) });
    for (let at = 0; at < clip.pcm.length; at += 256) pipeline.queueFrame(frame("input-audio", { pcm: clip.pcm.slice(at, at + 256), sampleRate: 16000 }));
    await pipeline.idle();
    const events = out.filter((f) => f.type !== "input-audio");
    expect(events.map((f) => f.type)).toEqual(["user-started-speaking", "user-paused-speaking", "user-stopped-speaking", "metrics"]);
    const audioBefore = (type: string) => out.slice(0, out.findIndex((f) => f.type === type)).filter((f) => f.type === "input-audio").length * 256;
    expect(audioBefore("user-stopped-speaking") + 512).toBeGreaterThanOrEqual(((clip.speechEndMs + 600) * 16000) / 1000);
    // The pause (the answer is prepared) comes 250 ms into the silence, well before the stop.
    expect(audioBefore("user-paused-speaking") + 512).toBeGreaterThanOrEqual(((clip.speechEndMs + 250) * 16000) / 1000);
    expect(audioBefore("user-paused-speaking")).toBeLessThanOrEqual(((clip.speechEndMs + 450) * 16000) / 1000);
    expect(turns.current).toBe(1);
  });

  it("refuses nonsensical tuning with a message naming the setting", () => {
    expect(() => new TurnDetector({ ...DEFAULT_VAD_PARAMS, stopThreshold: 0.8 }, 32)).toThrow(/stopThreshold 0.8 is above startThreshold 0.5/);
    expect(() => new TurnDetector({ ...DEFAULT_VAD_PARAMS, startThreshold: 1.5 }, 32)).toThrow(/startThreshold 1.5 must be between 0 and 1/);
    expect(() => new TurnDetector({ ...DEFAULT_VAD_PARAMS, pauseMs: 600 }, 32)).toThrow(/pauseMs 600 must be .* shorter than minSilenceMs 600/);
  });

  it("pauses once per silence, again after speech resumes, and never with pauseMs 0", () => {
    const events = (pauseMs: number) => {
      const d = new TurnDetector({ ...DEFAULT_VAD_PARAMS, pauseMs }, 32);
      // speech 0–320 ms, 320 ms silence, speech again, then 1 s of silence.
      const probs = [...Array(10).fill(0.9), ...Array(10).fill(0.05), ...Array(10).fill(0.9), ...Array(32).fill(0.05)];
      return probs.map((p, i) => d.push(p, i * 32)).filter((e) => e).map((e) => `${e!.type}@${e!.atMs}`);
    };
    expect(events(250)).toEqual(["start@0", "pause@320", "pause@960", "stop@960"]);
    expect(events(0)).toEqual(["start@0", "stop@960"]);
  });
});
