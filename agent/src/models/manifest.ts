// The model directory and its manifest: which STT, TTS, VAD, LLM, YOLO and embedding
// files are present, where, and what they should hash to. `npm run models -- download`
// writes it for real models; scripts/models/tiny-speech.ts writes one for the generated
// test models, so the agent loads both through the same code.
//
//   <dir>/manifest.json
//   <dir>/<role>/<name>/<files...>
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { cacheFolder } from "../cache-dir";

export type ModelRole = "stt" | "tts" | "vad" | "llm" | "yolo" | "embedding";
export const MODEL_ROLES: readonly ModelRole[] = ["stt", "tts", "vad", "llm", "yolo", "embedding"];

/** How a bundle is loaded; each names the files it needs (see BUNDLE_FILES). */
export type ModelFormat =
  | "sherpa-nemo-ctc"
  | "sherpa-moonshine"
  | "piper-vits"
  | "silero-vad"
  | "gguf"
  | "onnx";

/** The file keys each format needs, so a half-written manifest fails at once. */
export const BUNDLE_FILES: Record<ModelFormat, readonly string[]> = {
  "sherpa-nemo-ctc": ["model", "tokens"],
  "sherpa-moonshine": ["preprocessor", "encoder", "uncachedDecoder", "cachedDecoder", "tokens"],
  "piper-vits": ["model", "tokens"],
  "silero-vad": ["model"],
  gguf: ["model"],
  onnx: ["model"],
};

export interface ManifestFile {
  /** Relative to the model directory. */
  path: string;
  sha256: string;
  bytes: number;
}

export interface ManifestEntry {
  role: ModelRole;
  name: string;
  format: ModelFormat;
  files: Record<string, ManifestFile>;
  /** Output rate of a voice, input rate of a recognizer. */
  sampleRate?: number;
  /** Where it came from (a URL, or "generated"). */
  source?: string;
}

export interface ModelManifest {
  version: 1;
  models: ManifestEntry[];
}

/** A manifest entry with absolute paths, checked to exist. */
export interface ModelBundle {
  role: ModelRole;
  name: string;
  format: ModelFormat;
  dir: string;
  files: Record<string, string>;
  sampleRate?: number;
}

export const MANIFEST_NAME = "manifest.json";

/** $AIDE_MODELS_DIR (what the voice-agent Nomad job sets), else $AIDE_CACHE/models, else ~/.cache/aide/models. */
export function defaultModelDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AIDE_MODELS_DIR) return resolve(env.AIDE_MODELS_DIR);
  return join(cacheFolder(env), "models");
}

/** The command a user runs to fill `dir`; every "missing" error ends with it. */
export function downloadCommand(dir: string): string {
  return `npm run models -- download --dir '${dir.replace(/'/g, "'\\''")}'`;
}

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelError";
  }
}

function fail(dir: string, what: string): never {
  throw new ModelError(`model directory ${dir}: ${what} — run: ${downloadCommand(dir)}`);
}

/** Parses a manifest at the edge into typed values; every problem names the field. */
export function parseManifest(text: string, where: string): ModelManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const problems: string[] = [];
  const obj = raw as { version?: unknown; models?: unknown };
  if (!obj || typeof obj !== "object") throw new ModelError(`${where}: expected an object`);
  if (obj.version !== 1) problems.push(`version must be 1 (got ${JSON.stringify(obj.version)})`);
  if (!Array.isArray(obj.models)) problems.push("models must be an array");
  const models = Array.isArray(obj.models) ? (obj.models as ManifestEntry[]) : [];
  models.forEach((m, i) => {
    const at = `models[${i}]${m && typeof m.name === "string" ? ` (${m.name})` : ""}`;
    if (!m || typeof m !== "object") return problems.push(`${at}: expected an object`);
    if (!MODEL_ROLES.includes(m.role)) problems.push(`${at}.role: one of ${MODEL_ROLES.join(", ")}`);
    if (typeof m.name !== "string" || !m.name) problems.push(`${at}.name: a non-empty string`);
    if (!(m.format in BUNDLE_FILES)) problems.push(`${at}.format: one of ${Object.keys(BUNDLE_FILES).join(", ")}`);
    else {
      for (const key of BUNDLE_FILES[m.format]) {
        const f = m.files?.[key];
        if (!f || typeof f.path !== "string" || typeof f.sha256 !== "string" || typeof f.bytes !== "number") {
          problems.push(`${at}.files.${key}: { path, sha256, bytes } is required for format ${m.format}`);
        } else if (f.path.startsWith("/") || f.path.split(/[\\/]/).includes("..")) {
          problems.push(`${at}.files.${key}.path: must stay inside the model directory`);
        }
      }
    }
  });
  if (problems.length) throw new ModelError(`${where}: ${problems.join("; ")}`);
  return { version: 1, models };
}

export function readManifest(dir: string): ModelManifest {
  const path = join(dir, MANIFEST_NAME);
  if (!existsSync(path)) fail(dir, `no ${MANIFEST_NAME}`);
  return parseManifest(readFileSync(path, "utf8"), path);
}

/**
 * The bundle for `role` (the one named `name`, else the first listed), with its files
 * checked to exist at their recorded size. Full sha256 checks are `npm run models -- verify`:
 * hashing a multi-GB GGUF at every start would cost minutes on a Core 2.
 */
export function findBundle(dir: string, role: ModelRole, name?: string): ModelBundle {
  const manifest = readManifest(dir);
  const entry = manifest.models.find((m) => m.role === role && (name === undefined || m.name === name));
  if (!entry) fail(dir, `missing ${role} model${name ? ` ${name}` : ""} (the manifest lists none)`);
  const files: Record<string, string> = {};
  for (const [key, f] of Object.entries(entry.files)) {
    const abs = join(dir, f.path);
    if (!existsSync(abs)) fail(dir, `missing ${role} model ${entry.name}: ${abs} not found`);
    const size = statSync(abs).size;
    if (size !== f.bytes) fail(dir, `corrupt ${role} model ${entry.name}: ${abs} is ${size} bytes, expected ${f.bytes}`);
    files[key] = abs;
  }
  return { role, name: entry.name, format: entry.format, dir, files, sampleRate: entry.sampleRate };
}

/** Writes the manifest atomically (temp file + rename) so a crash never leaves half a file. */
export function writeManifest(dir: string, manifest: ModelManifest): void {
  const path = join(dir, MANIFEST_NAME);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + "\n");
  renameSync(tmp, path);
}

/** Adds or replaces (same role and name) one entry, keeping the others. */
export function upsertManifestEntry(dir: string, entry: ManifestEntry): ModelManifest {
  const current = existsSync(join(dir, MANIFEST_NAME)) ? readManifest(dir) : { version: 1 as const, models: [] };
  const models = current.models.filter((m) => !(m.role === entry.role && m.name === entry.name));
  const manifest: ModelManifest = { version: 1, models: [...models, entry] };
  writeManifest(dir, manifest);
  return manifest;
}
