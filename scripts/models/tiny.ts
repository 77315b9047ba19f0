// The generated models tests and the no-download local mode use. Each is written once
// into $AIDE_CACHE/models/generated and reused; the file name carries a version so a
// change to the generator never reuses a stale file.
//
//   npx ts-node --transpile-only scripts/models/tiny.ts [chat|embedding|bench]...
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { aideCache } from "../../lib/cache";
import { LlamaShape, writeLlamaModel } from "./gguf/llama";
import { GgmlType } from "./gguf/writer";

const GENERATOR_VERSION = 4;

const SHAPES = {
  // A few hundred KB: loads in milliseconds, generates fast even under qemu. Seed 8
  // picked by looking: its greedy answers vary instead of repeating one word.
  chat: { name: "aide-tiny-chat", embedding: 128, layers: 4, heads: 4, kvHeads: 2, feedForward: 256, context: 4096, weightType: GgmlType.Q8_0, seed: 8 },
  chatF32: { name: "aide-tiny-chat-f32", embedding: 128, layers: 4, heads: 4, kvHeads: 2, feedForward: 256, context: 4096, weightType: GgmlType.F32, seed: 8 },
  embedding: { name: "aide-tiny-embedding", embedding: 128, layers: 2, heads: 4, kvHeads: 4, feedForward: 256, context: 2048, weightType: GgmlType.Q8_0, seed: 2, pooling: "mean" },
  // ~230 MB of Q4_0: large enough that generation is memory-bound, like a real model.
  bench: { name: "aide-bench-q4_0", embedding: 2048, layers: 8, heads: 16, kvHeads: 16, feedForward: 5632, context: 2048, weightType: GgmlType.Q4_0, seed: 3 },
} satisfies Record<string, LlamaShape>;

export type GeneratedModel = keyof typeof SHAPES;

export function generatedModelPath(which: GeneratedModel): string {
  return aideCache("models", "generated", `${SHAPES[which].name}-v${GENERATOR_VERSION}.gguf`);
}

export async function ensureGeneratedModel(which: GeneratedModel): Promise<string> {
  const path = generatedModelPath(which);
  if (!existsSync(path)) {
    mkdirSync(join(path, ".."), { recursive: true });
    await writeLlamaModel(path, SHAPES[which]);
  }
  return path;
}

/** A tiny llama-architecture chat model (q8_0, ChatML, byte-fallback vocab). */
export const ensureTinyChatModel = (): Promise<string> => ensureGeneratedModel("chat");
/** A tiny model that pools its output (mean) for embeddings. */
export const ensureTinyEmbeddingModel = (): Promise<string> => ensureGeneratedModel("embedding");
/** A few-hundred-MB Q4_0 model for memory-bound benchmarks. */
export const ensureBenchModel = (): Promise<string> => ensureGeneratedModel("bench");

if (require.main === module) {
  const names = process.argv.slice(2);
  const wanted = (names.length ? names : ["chat", "embedding"]) as GeneratedModel[];
  (async () => {
    for (const w of wanted) {
      if (!(w in SHAPES)) throw new Error(`unknown model '${w}': choose from ${Object.keys(SHAPES).join(", ")}`);
      console.log(`${w}: ${await ensureGeneratedModel(w)}`);
    }
  })().catch((e) => { console.error(String(e.message ?? e)); process.exit(1); });
}
