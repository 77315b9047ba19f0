// The model directory the agent reads: which STT/TTS/VAD/LLM/YOLO/embedding files are
// present (manifest.json, written by `npm run models -- download`), with errors that name
// the missing or corrupt file and the command that fixes it.
export type { ManifestEntry, ManifestFile, ModelBundle, ModelFormat, ModelManifest, ModelRole } from "./manifest";
export { BUNDLE_FILES, MODEL_ROLES, ModelError, defaultModelDir, downloadCommand, findBundle, readManifest } from "./manifest";
export { espeakDataDir } from "./espeak";
