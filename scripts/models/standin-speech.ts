// A full-cost stand-in for moonshine-tiny (scripts/models/onnx/moonshine-cost.ts): the
// real model's layers and sizes with random weights, saying a fixed phrase. Written once
// per phrase into $AIDE_CACHE/models/generated/speech-full-cost-v<N>-<phrase hash> as a
// model directory with a manifest, so the agent loads it through createSpeechToText like
// a downloaded model. For benchmarks that must wait as long as the real recognizer
// would (bench:cluster), where the tiny generated one answers in microseconds.
//
//   npx ts-node --transpile-only scripts/models/standin-speech.ts [--rtf SECONDS]
//     prints the directory, the MACs of stand-in vs real model, and optionally the RTF here
import { createHash } from "node:crypto";
import { cpus } from "node:os";
import { aideCache } from "../../lib/cache";
import { writeManifest } from "../../agent/src/models/manifest";
import { createSpeechToText } from "../../agent/src/services/stt";
import { MacCount, moonshineCostModel, moonshineTinyMacs, MOONSHINE_TINY_PUBLISHED_CPU, standInMacs } from "./onnx/moonshine-cost";
import { ensureGeneratedDir, generatedEntry, TINY_STT_PHRASE } from "./tiny-speech";

const GENERATOR_VERSION = 2;
/** The manifest name of the stand-in's stt entry. */
export const FULL_COST_STT_NAME = "standin-moonshine-tiny";

export interface FullCostSpeechModels {
  /** A model directory (manifest.json + files) for createSpeechToText({ modelDir, name }). */
  dir: string;
  name: string;
  /** What it says for any non-silent audio. */
  phrase: string;
}

/** Writes the stand-in into `dir` (replacing its manifest). Takes a few seconds: ~45 MB of weights. */
export function writeFullCostSpeechModels(dir: string, phrase = TINY_STT_PHRASE): FullCostSpeechModels {
  const m = moonshineCostModel(phrase);
  writeManifest(dir, {
    version: 1,
    models: [
      generatedEntry(
        dir,
        "stt",
        FULL_COST_STT_NAME,
        "sherpa-moonshine",
        {
          preprocessor: { file: "preprocess.onnx", data: m.preprocessor },
          encoder: { file: "encode.int8.onnx", data: m.encoder },
          uncachedDecoder: { file: "uncached_decode.int8.onnx", data: m.uncachedDecoder },
          cachedDecoder: { file: "cached_decode.int8.onnx", data: m.cachedDecoder },
          tokens: { file: "tokens.txt", data: m.tokens },
        },
        16000,
      ),
    ],
  });
  return { dir, name: FULL_COST_STT_NAME, phrase };
}

/** The stand-in's model directory for `phrase`, made once per generator version. */
export async function ensureFullCostSpeechModels(phrase = TINY_STT_PHRASE): Promise<FullCostSpeechModels> {
  const key = createHash("sha256").update(phrase.trim().toLowerCase()).digest("hex").slice(0, 10);
  const dir = aideCache("models", "generated", `speech-full-cost-v${GENERATOR_VERSION}-${key}`);
  ensureGeneratedDir(dir, (tmp) => writeFullCostSpeechModels(tmp, phrase));
  return { dir, name: FULL_COST_STT_NAME, phrase };
}

/** Loud, deterministic, speech-band audio (a few tones under noise), mono PCM16 at 16 kHz. */
export function benchAudio(seconds: number): Int16Array {
  const out = new Int16Array(Math.round(seconds * 16000));
  let seed = 7;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const t = i / 16000;
    const tones = Math.sin(2 * Math.PI * 180 * t) + 0.6 * Math.sin(2 * Math.PI * 720 * t) + 0.3 * Math.sin(2 * Math.PI * 2300 * t);
    out[i] = Math.round(4000 * tones + 2000 * ((seed / 0x7fffffff) * 2 - 1));
  }
  return out;
}

export interface RealTimeFactor {
  /** Decode time / audio time: what a user waits per second of speech. */
  rtf: number;
  seconds: number;
  /** Mean wall time of one transcription, in ms. */
  msPerRun: number;
  runs: number;
  threads: 1;
  /** The transcript (the stand-in's phrase), to show it really decoded. */
  text: string;
}

/**
 * The stand-in's real-time factor on this machine for `seconds` of audio with one ONNX
 * Runtime thread, through the agent's createSpeechToText (after one warm-up run). Print
 * it beside MOONSHINE_TINY_PUBLISHED_CPU.
 */
export async function standInRealTimeFactor(seconds: number, runs = 3): Promise<RealTimeFactor> {
  const models = await ensureFullCostSpeechModels();
  const stt = await createSpeechToText({ modelDir: models.dir, name: models.name, numThreads: 1 });
  const pcm = benchAudio(seconds);
  await stt.transcribe(pcm, 16000);
  let busy = 0;
  let text = "";
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    text = (await stt.transcribe(pcm, 16000)).text;
    busy += performance.now() - t0;
  }
  return { rtf: busy / 1000 / (seconds * runs), seconds, msPerRun: busy / runs, runs, threads: 1, text };
}

/** One line per graph: stand-in MACs vs the real model's, for `seconds` of audio and `tokens` tokens. */
export function macComparison(seconds: number, tokens: number): string[] {
  const samples = Math.round(seconds * 16000);
  const ours = standInMacs(samples, tokens);
  const real = moonshineTinyMacs(samples, tokens);
  const m = (v: number) => `${(v / 1e6).toFixed(1)}M`.padStart(9);
  const keys: (keyof MacCount)[] = ["preprocess", "encode", "uncachedDecode", "cachedDecode", "total"];
  return keys.map((k) => `${k.padEnd(15)} stand-in ${m(ours[k])}  moonshine-tiny ${m(real[k])}  (${((ours[k] / real[k] - 1) * 100).toFixed(1)} %)`);
}

if (require.main === module) {
  (async () => {
    const models = await ensureFullCostSpeechModels();
    console.log(models.dir);
    for (const seconds of [1, 4, 10]) {
      console.log(`MACs for ${seconds} s of audio, 4 tokens:`);
      for (const line of macComparison(seconds, 4)) console.log(`  ${line}`);
    }
    const i = process.argv.indexOf("--rtf");
    if (i > 0) {
      const r = await standInRealTimeFactor(Number(process.argv[i + 1] ?? 4));
      const p = MOONSHINE_TINY_PUBLISHED_CPU;
      console.log(`stand-in RTF ${r.rtf.toFixed(3)} on ${cpus()[0]?.model ?? "this CPU"}, 1 thread, ${r.seconds} s of audio (${r.msPerRun.toFixed(0)} ms per run, heard "${r.text}")`);
      console.log(`published: moonshine-tiny RTF ${p.rtf} on ${p.cpu}, ${p.audio}, ${p.runtime} (${p.source})`);
    }
  })().catch((e) => {
    console.error(String(e?.message ?? e));
    process.exit(1);
  });
}
