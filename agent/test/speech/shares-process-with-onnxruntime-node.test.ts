// The agent runs two ONNX Runtimes in one process: sherpa-onnx's own (STT, TTS) and
// onnxruntime-node (Silero VAD, YOLO vision). Different library names and versioned
// symbols should keep them apart; this pins it by alternating real inferences on both
// and checking every answer.
import * as ort from "onnxruntime-node";
import { createSpeechToText, SpeechToText } from "../../src/services/stt";
import { createTextToSpeech, TextToSpeech } from "../../src/services/tts";
import { ensureTinySpeechModels, TinySpeechModels } from "../../../scripts/models/tiny-speech";
import { spokenPcm } from "./audio";

const SILERO = require.resolve("@ricky0123/vad-web/dist/silero_vad_v5.onnx");

let models: TinySpeechModels;
let stt: SpeechToText;
let tts: TextToSpeech;
let vad: ort.InferenceSession;
let speech: Int16Array;

/** Highest Silero v5 speech probability over 512-sample frames at 16 kHz. */
async function speechProbability(pcm: Int16Array): Promise<number> {
  let state: ort.Tensor = new ort.Tensor("float32", new Float32Array(2 * 128), [2, 1, 128]);
  const sr = new ort.Tensor("int64", BigInt64Array.from([16000n]), []);
  let best = 0;
  for (let i = 0; i + 512 <= pcm.length; i += 512) {
    const frame = Float32Array.from(pcm.subarray(i, i + 512), (v) => v / 32768);
    const out = await vad.run({ input: new ort.Tensor("float32", frame, [1, 512]), state, sr });
    best = Math.max(best, (out.output.data as Float32Array)[0]);
    state = out.stateN as ort.Tensor;
  }
  return best;
}

beforeAll(async () => {
  models = await ensureTinySpeechModels();
  vad = await ort.InferenceSession.create(SILERO, { intraOpNumThreads: 1 });
  stt = await createSpeechToText({ modelDir: models.dir, numThreads: 1 });
  tts = await createTextToSpeech({ voice: "piper", piper: { modelDir: models.dir, numThreads: 1 } });
  speech = spokenPcm("I would like to know what is on the table in front of me.");
});

afterAll(async () => {
  await vad?.release();
});

it("runs Silero VAD (onnxruntime-node) and sherpa-onnx STT/TTS alternately with correct answers", async () => {
  const silence = new Int16Array(16000);
  for (let round = 0; round < 4; round++) {
    expect(await speechProbability(speech)).toBeGreaterThan(0.8);
    expect((await stt.transcribe(speech, 16000)).text).toBe(models.phrase);
    expect(await speechProbability(silence)).toBeLessThan(0.2);
    let samples = 0;
    for await (const c of tts.synthesize("Okay, here it is.")) samples += c.length;
    expect(samples).toBeGreaterThan(2400);
  }
  // Both concurrently, too: the VAD keeps listening while STT decodes off-thread.
  const [p, t] = await Promise.all([speechProbability(speech), stt.transcribe(speech, 16000)]);
  expect(p).toBeGreaterThan(0.8);
  expect(t.text).toBe(models.phrase);
});
