// Generated speech models for tests, benchmarks and the no-download local mode: a
// recognizer that hears one fixed phrase in any non-silent audio, and a tone voice in
// Piper format. Written once into $AIDE_CACHE/models/generated/speech-v<N> as a model
// directory with a manifest, exactly like `npm run models -- download` writes one, so
// the agent loads them through the same code.
//
//   npx ts-node --transpile-only scripts/models/tiny-speech.ts   # prints the directory
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { aideCache } from "../../lib/cache";
import { fixedPhraseMoonshine, fixedPhraseRecognizer, toneVoice } from "./onnx/sherpa";
import { ManifestEntry, MANIFEST_NAME, ModelFormat, ModelRole, writeManifest } from "../../agent/src/models/manifest";

const GENERATOR_VERSION = 4;

/** What the generated recognizer says for any non-silent audio. */
export const TINY_STT_PHRASE = "what can you see";

export interface TinySpeechModels {
  /** A model directory (manifest.json + files) for createSpeechToText/createTextToSpeech. */
  dir: string;
  phrase: string;
  /** NeMo-CTC format (the manifest's first stt entry). */
  stt: { name: string; model: string; tokens: string };
  /** Moonshine format: the same phrase through the recognizer the real default model uses. */
  moonshine: { name: string };
  tts: { name: string; model: string; tokens: string; sampleRate: number };
}

/** Writes `files` under dir/role/name and returns their manifest entry (source "generated"). */
export function generatedEntry(
  dir: string,
  role: ModelRole,
  name: string,
  format: ModelFormat,
  files: Record<string, { file: string; data: Uint8Array | string }>,
  sampleRate: number,
): ManifestEntry {
  const out: ManifestEntry["files"] = {};
  for (const [key, { file, data }] of Object.entries(files)) {
    const rel = join(role, name, file);
    mkdirSync(join(dir, role, name), { recursive: true });
    writeFileSync(join(dir, rel), data);
    const bytes = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    out[key] = { path: rel, sha256: createHash("sha256").update(data).digest("hex"), bytes };
  }
  return { role, name, format, files: out, sampleRate, source: "generated" };
}

function describe(dir: string): TinySpeechModels {
  return {
    dir,
    phrase: TINY_STT_PHRASE,
    stt: { name: "tiny-fixed-phrase-ctc", model: join(dir, "stt/tiny-fixed-phrase-ctc/model.onnx"), tokens: join(dir, "stt/tiny-fixed-phrase-ctc/tokens.txt") },
    moonshine: { name: "tiny-fixed-phrase-moonshine" },
    tts: { name: "tiny-tone-piper", model: join(dir, "tts/tiny-tone-piper/model.onnx"), tokens: join(dir, "tts/tiny-tone-piper/tokens.txt"), sampleRate: 22050 },
  };
}

/** Writes the models into `dir` (replacing what is there) and returns their paths. */
export function writeTinySpeechModels(dir: string): TinySpeechModels {
  const d = describe(dir);
  mkdirSync(dir, { recursive: true });
  const stt = fixedPhraseRecognizer(TINY_STT_PHRASE);
  const tts = toneVoice(d.tts.sampleRate);
  const moon = fixedPhraseMoonshine(TINY_STT_PHRASE);
  writeManifest(dir, {
    version: 1,
    models: [
      generatedEntry(dir, "stt", d.stt.name, "sherpa-nemo-ctc", { model: { file: "model.onnx", data: stt.model }, tokens: { file: "tokens.txt", data: stt.tokens } }, 16000),
      generatedEntry(dir, "tts", d.tts.name, "piper-vits", { model: { file: "model.onnx", data: tts.model }, tokens: { file: "tokens.txt", data: tts.tokens } }, tts.sampleRate),
      generatedEntry(
        dir,
        "stt",
        d.moonshine.name,
        "sherpa-moonshine",
        {
          preprocessor: { file: "preprocess.onnx", data: moon.preprocessor },
          encoder: { file: "encode.onnx", data: moon.encoder },
          uncachedDecoder: { file: "uncached_decode.onnx", data: moon.uncachedDecoder },
          cachedDecoder: { file: "cached_decode.onnx", data: moon.cachedDecoder },
          tokens: { file: "tokens.txt", data: moon.tokens },
        },
        16000,
      ),
    ],
  });
  return d;
}

/** The generated speech model directory, made once per generator version. */
export async function ensureTinySpeechModels(): Promise<TinySpeechModels> {
  const dir = aideCache("models", "generated", `speech-v${GENERATOR_VERSION}`);
  ensureGeneratedDir(dir, writeTinySpeechModels);
  return describe(dir);
}

/**
 * Makes `dir` with `write` unless its manifest is there. Builds beside it and renames,
 * so parallel test files never see half a directory.
 */
export function ensureGeneratedDir(dir: string, write: (dir: string) => unknown): void {
  if (existsSync(join(dir, MANIFEST_NAME))) return;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  write(tmp);
  try {
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, MANIFEST_NAME))) throw e;
  }
}

if (require.main === module) {
  ensureTinySpeechModels().then(
    (m) => console.log(m.dir),
    (e) => {
      console.error(String(e?.message ?? e));
      process.exit(1);
    },
  );
}
