// The Piper-medium-cost stand-in voice: the agent loads it as a Piper voice, it speaks
// (noise) for as long as Piper would, and it really costs what Piper medium costs.
import { readManifest } from "../../agent/src/models/manifest";
import { createTextToSpeech, loadSherpaVoice, TextToSpeech } from "../../agent/src/services/tts";
import { piperMacs, piperMediumCostMacs, FRAMES_PER_ID, PIPER_MEDIUM } from "../../scripts/models/onnx/piper-cost";
import { ensurePiperMediumCostVoice, measureVoiceRtf, StandInVoiceDir } from "../../scripts/models/standin-voice";
import { ensureTinySpeechModels } from "../../scripts/models/tiny-speech";

const SHORT = "Yes, I can.";
const LONG = "Turn off the lights in the kitchen, then lock the front door and tell me what the weather will be like tomorrow morning.";

let voice: StandInVoiceDir;
let tts: TextToSpeech;

async function speak(text: string): Promise<{ samples: number; ms: number; peak: number }> {
  const t0 = performance.now();
  let samples = 0;
  let peak = 0;
  for await (const chunk of tts.synthesize(text)) {
    samples += chunk.length;
    for (const s of chunk) peak = Math.max(peak, Math.abs(s));
  }
  return { samples, ms: performance.now() - t0, peak };
}

beforeAll(async () => {
  voice = await ensurePiperMediumCostVoice();
  tts = await createTextToSpeech({ voice: "piper", piper: { modelDir: voice.dir, name: voice.name, numThreads: 1 }, sampleRate: 22050 });
  await speak("Warm up.");
});

it("is a Piper voice the agent loads from its model directory, speaking at 22,050 Hz", async () => {
  const entry = readManifest(voice.dir).models.find((m) => m.name === voice.name);
  expect(entry).toMatchObject({ role: "tts", format: "piper-vits", sampleRate: 22050 });
  expect(tts.name).toBe(voice.name); // not the espeak-ng fallback
  const native = await loadSherpaVoice({ modelDir: voice.dir, name: voice.name, numThreads: 1 });
  expect(native.nativeRate).toBe(22050); // sherpa read it from the model's metadata

  const { samples, peak } = await speak("Hello there, I can see a cup on the table.");
  expect(samples).toBeGreaterThan(0);
  expect(samples % (FRAMES_PER_ID * PIPER_MEDIUM.hopLength)).toBe(0); // whole frames per phoneme id
  expect(samples / 22050).toBeGreaterThan(1); // a sentence of 10 words, not a blip
  expect(peak).toBeGreaterThan(1000); // audible noise, not silence or NaN turned to 0
});

it("speaks longer for longer text, as Piper does", async () => {
  const short = await speak(SHORT);
  const long = await speak(LONG);
  expect(short.samples).toBeGreaterThan(0);
  expect(long.samples / short.samples).toBeGreaterThan(4);
});

it("costs what Piper medium costs per second of audio, counted from its graph", () => {
  const standIn = piperMediumCostMacs();
  const piper = piperMacs();
  expect(standIn.total / piper.total).toBeGreaterThan(0.8);
  expect(standIn.total / piper.total).toBeLessThan(1.2);
  expect(standIn.decoder).toBeGreaterThan(0.5 * standIn.total); // the vocoder is the bulk, as in Piper
});

it("really computes: far more time per second of audio than the tiny tone voice", async () => {
  const tiny = await ensureTinySpeechModels();
  const tone = await measureVoiceRtf({ modelDir: tiny.dir, name: tiny.tts.name, threads: 1 });
  const standIn = await measureVoiceRtf({ threads: 1 });
  console.log(`RTF with 1 thread: stand-in ${standIn.rtf.toFixed(4)}, tone voice ${tone.rtf.toFixed(4)}`);
  expect(standIn.audioSeconds).toBeGreaterThan(3);
  expect(standIn.rtf).toBeGreaterThan(10 * tone.rtf);
  // ~2.8 GMAC per second of audio cannot run much faster than 100 GMAC/s on one thread.
  expect(standIn.rtf).toBeGreaterThan(0.02);
});

it("takes longer to synthesize longer text", async () => {
  const fastest = async (text: string) => Math.min((await speak(text)).ms, (await speak(text)).ms);
  const short = await fastest(SHORT);
  const long = await fastest(LONG);
  expect(long / short).toBeGreaterThan(2);
});
