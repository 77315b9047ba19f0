// The Piper-medium-cost stand-in voice (scripts/models/onnx/piper-cost.ts) as a model
// directory with a manifest, written once into $AIDE_CACHE/models/generated/
// piper-medium-cost-v<N>, so the agent loads it through its real code
// (createTextToSpeech({ voice: "piper", piper: { modelDir: dir, name } })).
//
//   npx ts-node --transpile-only scripts/models/standin-voice.ts   # directory, MACs, RTF here
import { cpus } from "node:os";
import { aideCache } from "../../lib/cache";
import { MacsPerSecond, piperMacs, piperMediumCostMacs, piperMediumCostVoice, PIPER_MEDIUM_PUBLISHED_RTF } from "./onnx/piper-cost";
import { ensureGeneratedDir, generatedEntry } from "./tiny-speech";
import { writeManifest } from "../../agent/src/models/manifest";
import { createTextToSpeech } from "../../agent/src/services/tts";

const GENERATOR_VERSION = 1;
const VOICE_NAME = "piper-medium-cost-standin";

export interface StandInVoiceDir {
  /** A model directory (manifest.json + files) for createTextToSpeech. */
  dir: string;
  /** The manifest's tts entry name. */
  name: string;
}

/** Writes the stand-in voice into `dir` (replacing its manifest); returns its MACs per second of audio. */
export function writePiperMediumCostVoice(dir: string): MacsPerSecond {
  const voice = piperMediumCostVoice();
  const files = { model: { file: "model.onnx", data: voice.model }, tokens: { file: "tokens.txt", data: voice.tokens } };
  writeManifest(dir, { version: 1, models: [generatedEntry(dir, "tts", VOICE_NAME, "piper-vits", files, voice.sampleRate)] });
  return voice.macs;
}

/** The stand-in voice's model directory, generated once per generator version (~60 MB, a few seconds). */
export async function ensurePiperMediumCostVoice(): Promise<StandInVoiceDir> {
  const dir = aideCache("models", "generated", `piper-medium-cost-v${GENERATOR_VERSION}`);
  ensureGeneratedDir(dir, writePiperMediumCostVoice);
  return { dir, name: VOICE_NAME };
}

export interface SynthesisSpeed {
  /** Synthesis seconds per second of audio. */
  rtf: number;
  audioSeconds: number;
  seconds: number;
}

/** Two sentences of a typical answer (sherpa synthesizes them one at a time). */
export const RTF_TEXT = "Sure, I can see a red cup and a laptop on the desk. Someone is sitting near the window, reading a book.";

/**
 * Real-time factor of a Piper voice in `modelDir` (default: the stand-in) through the
 * agent's own TTS code, with `threads` ONNX Runtime threads (default 1), after one warm-up.
 * Audio is taken at the voice's native 22,050 Hz, so no resampling is timed.
 */
export async function measureVoiceRtf(options: { modelDir?: string; name?: string; threads?: number; text?: string; runs?: number } = {}): Promise<SynthesisSpeed> {
  const voice = options.modelDir ? { dir: options.modelDir, name: options.name } : await ensurePiperMediumCostVoice();
  const tts = await createTextToSpeech({ voice: "piper", piper: { modelDir: voice.dir, name: voice.name, numThreads: options.threads ?? 1 }, sampleRate: 22050 });
  for await (const _ of tts.synthesize("Warm up.")); // first run allocates
  let samples = 0;
  const t0 = performance.now();
  for (let r = 0; r < (options.runs ?? 1); r++) {
    for await (const chunk of tts.synthesize(options.text ?? RTF_TEXT)) samples += chunk.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  const audioSeconds = samples / tts.sampleRate;
  return { rtf: seconds / audioSeconds, audioSeconds, seconds };
}

/** Lines for a bench: the stand-in's counted MACs beside Piper medium's, and its RTF here beside the published one. */
export async function describePiperMediumCostVoice(threads = 1): Promise<string[]> {
  const voice = await ensurePiperMediumCostVoice();
  const standIn = piperMediumCostMacs();
  const piper = piperMacs();
  const g = (n: number) => `${(n / 1e9).toFixed(3)} G`;
  const lines = [`Piper-medium-cost stand-in voice: ${voice.dir}`, "MACs per second of audio      stand-in    Piper medium"];
  for (const k of ["textEncoder", "durationPredictor", "flow", "decoder", "total"] as const) {
    lines.push(`  ${k.padEnd(26)} ${g(standIn[k]).padStart(10)}  ${g(piper[k]).padStart(12)}`);
  }
  lines.push(`  stand-in / Piper medium: ${(standIn.total / piper.total).toFixed(3)}`);
  const speed = await measureVoiceRtf({ threads, runs: 3 });
  lines.push(`RTF here (${cpus()[0]?.model ?? "unknown CPU"}, ${threads} thread): ${speed.rtf.toFixed(3)} (${speed.seconds.toFixed(2)} s for ${speed.audioSeconds.toFixed(2)} s of audio)`);
  for (const p of PIPER_MEDIUM_PUBLISHED_RTF) lines.push(`RTF published for Piper medium on ${p.cpu}: ${p.rtf} (${p.source})`);
  return lines;
}

if (require.main === module) {
  describePiperMediumCostVoice().then(
    (lines) => console.log(lines.join("\n")),
    (e) => {
      console.error(String(e?.message ?? e));
      process.exit(1);
    },
  );
}
