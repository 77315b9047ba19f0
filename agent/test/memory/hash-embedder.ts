/**
 * A deterministic stand-in embedder for the storage tests (what is under test there is
 * the index on disk, not the model): the same text always gives the same unit vector.
 */
import { createHash } from "node:crypto";
import type { Embedder } from "../../src/twin/memory/embedder";

export class HashEmbedder implements Embedder {
  constructor(private readonly dims = 64) {}

  async embed(texts: string[]): Promise<number[][]> {
    return texts.map((text) => {
      const seed = createHash("sha256").update(text).digest();
      const v = Array.from({ length: this.dims }, (_, i) => Math.sin(seed[i % 32] * 31 + i * 7.3));
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    });
  }

  async close(): Promise<void> {}
}
