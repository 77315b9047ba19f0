// The real models Aide uses, pinned: where each file comes from and what it must hash to.
// `npm run models -- download` fetches them into the model directory and writes its
// manifest (agent/src/models/manifest.ts), which the agent reads.
//
// Checksums: a sha256 here was read from the file's published Git LFS pointer at the
// pinned commit. Where no published checksum could be checked when this list was made,
// `sha256` is absent and `unverified` says so: the downloader then records the hash it
// got (trust on first use) and prints a warning. Pin it once you have checked it.
import type { ModelFormat, ModelRole } from "../../agent/src/models/manifest";

export interface CatalogFile {
  /** The key the loader uses (BUNDLE_FILES in agent/src/models/manifest.ts). */
  key: string;
  /** https://…, http://… (tests), or npm:<package>/<path> for a file shipped in a package. */
  url: string;
  /** Where it goes, relative to the model directory. */
  path: string;
  sha256?: string;
  bytes?: number;
}

export interface CatalogModel {
  role: ModelRole;
  name: string;
  format: ModelFormat;
  sampleRate?: number;
  files: CatalogFile[];
  /** Why it has no pinned checksum (shown in the warning and the manifest's source). */
  unverified?: string;
  /** One line on why this model was chosen. */
  why: string;
}

const HF = "https://huggingface.co";
const NO_PUBLISHED_SHA = "no published sha256 could be checked for these files when the catalog was written";

export const CATALOG: CatalogModel[] = [
  {
    role: "stt",
    name: "moonshine-tiny",
    format: "sherpa-moonshine",
    sampleRate: 16000,
    why: "27M-parameter English recognizer, cost grows with the utterance (no 30 s window like Whisper), int8 for SSE-only CPUs",
    unverified: NO_PUBLISHED_SHA,
    files: [
      ["preprocessor", "preprocess.onnx"],
      ["encoder", "encode.int8.onnx"],
      ["uncachedDecoder", "uncached_decode.int8.onnx"],
      ["cachedDecoder", "cached_decode.int8.onnx"],
      ["tokens", "tokens.txt"],
    ].map(([key, file]) => ({ key, url: `${HF}/csukuangfj/sherpa-onnx-moonshine-tiny-en-int8/resolve/main/${file}`, path: `stt/moonshine-tiny/${file}` })),
  },
  {
    role: "tts",
    name: "piper-en-us-amy-medium",
    format: "piper-vits",
    sampleRate: 22050,
    why: "Piper medium voice with sherpa-onnx metadata; uses Debian's espeak-ng-data for phonemes",
    unverified: NO_PUBLISHED_SHA,
    files: [
      { key: "model", url: `${HF}/csukuangfj/vits-piper-en_US-amy-medium/resolve/main/en_US-amy-medium.onnx`, path: "tts/piper-en-us-amy-medium/model.onnx" },
      { key: "tokens", url: `${HF}/csukuangfj/vits-piper-en_US-amy-medium/resolve/main/tokens.txt`, path: "tts/piper-en-us-amy-medium/tokens.txt" },
    ],
  },
  {
    role: "vad",
    name: "silero-vad-v5",
    format: "silero-vad",
    sampleRate: 16000,
    why: "ships inside @ricky0123/vad-web (an agent dependency): copied, not downloaded",
    files: [{ key: "model", url: "npm:@ricky0123/vad-web/dist/silero_vad_v5.onnx", path: "vad/silero-vad-v5/silero_vad_v5.onnx" }],
  },
  {
    role: "llm",
    name: "qwen2.5-1.5b-instruct-q4_0",
    format: "gguf",
    why: "Q4_0 is the fastest quantization on SSE-only CPUs; 1.5B answers in conversation time on a Core 2 cluster",
    files: [
      {
        key: "model",
        url: `${HF}/bartowski/Qwen2.5-1.5B-Instruct-GGUF/resolve/1541c6652f92fc77320bf572381b36437e7cd434/Qwen2.5-1.5B-Instruct-Q4_0.gguf`,
        path: "llm/qwen2.5-1.5b-instruct-q4_0.gguf",
        sha256: "a0de6e4d07bf1988bc2963845ba2df03443cc301a62816582a2b8a0b75d9cfb8",
      },
    ],
  },
  {
    role: "yolo",
    name: "yolov8n",
    format: "onnx",
    why: "YOLOv8n exported to ONNX (1×84×8400 output), the vision room's detector",
    files: [
      {
        key: "model",
        url: `${HF}/webml/yolov8n/resolve/85bc8d7ab30d4065a41909d756c42819b67b4388/onnx/yolov8n.onnx`,
        path: "yolo/yolov8n.onnx",
        sha256: "190ba5f1e61411a001683e349d6b2cdb0804c0dc67a5e34cd8ff6fd00ee54b4d",
        bytes: 12823574,
      },
    ],
  },
  {
    role: "embedding",
    name: "all-minilm-l6-v2-q4_k_m",
    format: "gguf",
    why: "21 MB sentence embedder for long-term memory; llama-server --embeddings runs it",
    files: [
      {
        key: "model",
        url: `${HF}/second-state/All-MiniLM-L6-v2-Embedding-GGUF/resolve/e2cd77b26b3b606e353cf34ad3a635143d14b5de/all-MiniLM-L6-v2-Q4_K_M.gguf`,
        path: "embedding/all-minilm-l6-v2-q4_k_m.gguf",
        sha256: "2ec4cee28a27a9c973d5f5230930d6ef6e52694bd2bc71be26a9bef5b1d755e6",
      },
    ],
  },
];
