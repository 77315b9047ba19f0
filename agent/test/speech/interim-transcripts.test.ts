/**
 * While the user speaks, the STT stage re-transcribes the utterance so far (interim
 * transcripts, for the page and the LLM's prompt cache), once more at the VAD's pause,
 * and takes the pause's transcript as the final one (only silence came after it), so
 * the user's stop costs no decode. Real Silero VAD and a real sherpa recognizer on
 * espeak speech; the recognizer is wrapped only to count what it was asked to decode.
 */
import { Pipeline, TurnCounter, frame, type Frame } from "../../src/pipeline";
import { SttProcessor, VadProcessor } from "../../src/processors";
import { createSpeechToText, type SpeechToText, type Transcript } from "../../src/services/stt";
import { SileroVad } from "../../src/services/vad";
import { ensureTinySpeechModels } from "../../../scripts/models/tiny-speech";
import { makeSpeech } from "../vad/espeak-speech";

class CountingStt implements SpeechToText {
  decoded: number[] = [];
  constructor(private readonly inner: SpeechToText) {}
  get sampleRate() { return this.inner.sampleRate; }
  get name() { return this.inner.name; }
  async transcribe(pcm: Int16Array, sampleRate: number, signal?: AbortSignal): Promise<Transcript> {
    this.decoded.push(pcm.length / sampleRate);
    return this.inner.transcribe(pcm, sampleRate, signal);
  }
}

async function run(stt: SpeechToText, options: { interimMs: number; pauseMs?: number }): Promise<Frame[]> {
  const clip = makeSpeech("Could you tell me what the weather will be like tomorrow morning?", 500, 1200);
  const out: Frame[] = [];
  const turns = new TurnCounter();
  const pipeline = new Pipeline([
    new VadProcessor(await SileroVad.load(), turns, options.pauseMs === undefined ? {} : { pauseMs: options.pauseMs }),
    new SttProcessor(stt, turns, { interimMs: options.interimMs }),
  ], { onDownstreamOut: (f) => out.push(f) });
  pipeline.start();
  // As a microphone: 32 ms at a time, each handled before the next arrives.
  for (let at = 0; at < clip.pcm.length; at += 512) {
    pipeline.queueFrame(frame("input-audio", { pcm: clip.pcm.slice(at, at + 512), sampleRate: 16000 }));
    await pipeline.idle();
    await new Promise((r) => setImmediate(r));
  }
  await pipeline.idle();
  await new Promise((r) => setTimeout(r, 200));
  await pipeline.idle();
  await pipeline.stop();
  return out.filter((f) => f.type === "transcription");
}

describe("interim transcripts", () => {
  let stt: SpeechToText;
  let phrase: string;
  beforeAll(async () => {
    const models = await ensureTinySpeechModels();
    stt = await createSpeechToText({ modelDir: models.dir, name: models.moonshine.name, numThreads: 1 });
    phrase = models.phrase;
  });

  it("re-transcribes the utterance as it grows, once more at the pause, and reuses that at the stop", async () => {
    const counting = new CountingStt(stt);
    const frames = (await run(counting, { interimMs: 500 })) as Extract<Frame, { type: "transcription" }>[];
    const interims = frames.filter((f) => !f.final);
    const finals = frames.filter((f) => f.final);
    // About 3.5 s of speech: several interims, each over more audio than the one before.
    expect(interims.filter((f) => !f.atPause).length).toBeGreaterThanOrEqual(3);
    expect(counting.decoded.slice(0, -1).every((s, i) => s < counting.decoded[i + 1])).toBe(true);
    expect(interims[interims.length - 1].atPause).toBe(true);
    expect(finals).toHaveLength(1);
    expect(finals[0].text).toBe(phrase);
    expect(finals[0].text).toBe(interims[interims.length - 1].text);
    // Every decode showed an interim; the stop added none.
    expect(counting.decoded).toHaveLength(interims.length);
  });

  it("decodes once, at the stop, with interims and the pause turned off", async () => {
    const counting = new CountingStt(stt);
    const frames = (await run(counting, { interimMs: 0, pauseMs: 0 })) as Extract<Frame, { type: "transcription" }>[];
    expect(frames.map((f) => f.final)).toEqual([true]);
    expect(frames[0].text).toBe(phrase);
    expect(counting.decoded).toHaveLength(1);
  });
});
