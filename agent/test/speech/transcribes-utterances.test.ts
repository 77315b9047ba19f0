import { createSpeechToText, SpeechToText, SttInputError } from "../../src/services/stt";
import { ensureTinySpeechModels, TinySpeechModels } from "../../../scripts/models/tiny-speech";
import { noisePcm, spokenPcm } from "./audio";

// The generated recognizer says its fixed phrase for any non-silent audio, so these tests
// pin what the service does around a real sherpa-onnx load and inference.
let models: TinySpeechModels;
let ctc: SpeechToText;
let moonshine: SpeechToText;
let speech16k: Int16Array;

beforeAll(async () => {
  models = await ensureTinySpeechModels();
  ctc = await createSpeechToText({ modelDir: models.dir, numThreads: 1 });
  moonshine = await createSpeechToText({ modelDir: models.dir, name: models.moonshine.name, numThreads: 1 });
  speech16k = spokenPcm("Hello there, what can you see on the table?");
});

describe.each([
  ["NeMo CTC", () => ctc],
  ["Moonshine (the format of the default real model)", () => moonshine],
])("speech to text with a %s recognizer", (_name, recognizer) => {
  let stt: SpeechToText;
  beforeAll(() => {
    stt = recognizer();
  });

  it("transcribes a spoken utterance at 16 kHz", async () => {
    const t = await stt.transcribe(speech16k, 16000);
    expect(t.text).toBe(models.phrase);
    expect(t.audioSeconds).toBeCloseTo(speech16k.length / 16000, 3);
    expect(t.truncated).toBeUndefined();
  });

  it("hears speech sent at 44.1 kHz or 8 kHz by resampling it", async () => {
    expect((await stt.transcribe(spokenPcm("good morning, how are you today?", 44100), 44100)).text).toBe(models.phrase);
    expect((await stt.transcribe(spokenPcm("good morning, how are you today?", 8000), 8000)).text).toBe(models.phrase);
  });

  it("returns an empty transcript for empty audio and for silence", async () => {
    expect((await stt.transcribe(new Int16Array(0), 16000)).text).toBe("");
    expect((await stt.transcribe(new Int16Array(16000), 16000)).text).toBe("");
    // A faint hiss (-60 dBFS) is silence too, not a reason to invent words.
    expect((await stt.transcribe(noisePcm(1, 30), 16000)).text).toBe("");
  });

  it("transcribes clipped (overdriven) speech instead of failing", async () => {
    const clipped = speech16k.map((v) => Math.max(-32768, Math.min(32767, v * 20)));
    expect((await stt.transcribe(clipped, 16000)).text).toBe(models.phrase);
  });

  it("hears only the first 30 s of a 10-minute utterance and says so, in bounded time", async () => {
    const tenMinutes = new Int16Array(16000 * 600);
    for (let i = 0; i < tenMinutes.length; i += speech16k.length) tenMinutes.set(speech16k.subarray(0, Math.min(speech16k.length, tenMinutes.length - i)), i);
    const started = Date.now();
    const t = await stt.transcribe(tenMinutes, 16000);
    expect(t.truncated).toBe(true);
    expect(t.audioSeconds).toBe(30);
    expect(t.text).toBe(models.phrase);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("gives a bounded answer for loud non-speech noise", async () => {
    const t = await stt.transcribe(noisePcm(3, 12000), 16000);
    expect(typeof t.text).toBe("string");
    expect(t.text.length).toBeLessThan(200);
  });

  it("rejects unusable sample rates with an error that says what to send", async () => {
    for (const rate of [0, -16000, NaN, 16000.5, 1_000_000]) {
      await expect(stt.transcribe(speech16k, rate)).rejects.toThrow(SttInputError);
    }
    await expect(stt.transcribe(speech16k, 0)).rejects.toThrow(/send mono PCM16 at 16000 Hz/);
    await expect(stt.transcribe(Float32Array.from([0.1]) as unknown as Int16Array, 16000)).rejects.toThrow(/Int16Array/);
  });

  it("answers an abort at once and keeps working afterwards", async () => {
    const ac = new AbortController();
    const pending = stt.transcribe(speech16k, 16000, ac.signal);
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    const already = new AbortController();
    already.abort();
    await expect(stt.transcribe(speech16k, 16000, already.signal)).rejects.toMatchObject({ name: "AbortError" });
    expect((await stt.transcribe(speech16k, 16000)).text).toBe(models.phrase);
  });

  it("serves overlapping requests one after another, each with its own answer", async () => {
    const results = await Promise.all([
      stt.transcribe(speech16k, 16000),
      stt.transcribe(new Int16Array(8000), 16000),
      stt.transcribe(spokenPcm("yes, please do that for me", 22050), 22050),
    ]);
    expect(results.map((r) => r.text)).toEqual([models.phrase, "", models.phrase]);
  });
});
