// The generated test models: loadable by both llama.cpp (the other tests here) and
// node-llama-cpp, deterministic, and quantized faithfully.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeLlamaModel } from "../../scripts/models/gguf/llama";
import { encode, GgmlType } from "../../scripts/models/gguf/writer";
import { ensureTinyChatModel } from "../../scripts/models/tiny";

function decodeHalf(h: number): number {
  const e = (h >> 10) & 0x1f, m = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

describe("the generated tiny chat model", () => {
  it("loads in node-llama-cpp as a ChatML llama model and answers", async () => {
    const model = await ensureTinyChatModel();
    const out = execFileSync(process.execPath, [join(__dirname, "..", "support", "node-llama-check.mjs"), model, "What do you see?"], {
      encoding: "utf8", timeout: 120_000,
    });
    const r = JSON.parse(out.trim().split("\n").pop()!);
    expect(r).toMatchObject({ architecture: "llama", layers: 4, addSpacePrefix: false, chatWrapper: "ChatML" });
    expect(r.answerTokens).toBeGreaterThan(3);
    expect(r.answer.trim()).toMatch(/^[\w ,.?']+$/); // words, not raw bytes
  });

  it("is the same file every time it is generated", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aide-gguf-"));
    const shape = { name: "t", embedding: 64, layers: 1, heads: 2, kvHeads: 1, feedForward: 64, context: 256, weightType: GgmlType.Q8_0, seed: 9 };
    await writeLlamaModel(join(dir, "a.gguf"), shape);
    await writeLlamaModel(join(dir, "b.gguf"), shape);
    const hash = (f: string) => createHash("sha256").update(readFileSync(join(dir, f))).digest("hex");
    expect(hash("a.gguf")).toBe(hash("b.gguf"));
    await writeLlamaModel(join(dir, "c.gguf"), { ...shape, seed: 10 });
    expect(hash("c.gguf")).not.toBe(hash("a.gguf"));
  });
});

describe("quantizing weights", () => {
  const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 0.7) * (i % 5));

  it("q8_0 keeps every value within half a step of the block scale", () => {
    const b = encode(GgmlType.Q8_0, values);
    expect(b.length).toBe(2 * 34);
    for (let blk = 0; blk < 2; blk++) {
      const d = decodeHalf(b.readUInt16LE(blk * 34));
      for (let j = 0; j < 32; j++) {
        expect(Math.abs(b.readInt8(blk * 34 + 2 + j) * d - values[blk * 32 + j])).toBeLessThanOrEqual(d / 2 + 1e-3);
      }
    }
  });

  it("q4_0 keeps every value within one step of the block scale", () => {
    const b = encode(GgmlType.Q4_0, values);
    expect(b.length).toBe(2 * 18);
    for (let blk = 0; blk < 2; blk++) {
      const d = decodeHalf(b.readUInt16LE(blk * 18));
      for (let j = 0; j < 16; j++) {
        const byte = b[blk * 18 + 2 + j];
        expect(Math.abs(((byte & 15) - 8) * d - values[blk * 32 + j])).toBeLessThanOrEqual(Math.abs(d) + 1e-3);
        expect(Math.abs(((byte >> 4) - 8) * d - values[blk * 32 + j + 16])).toBeLessThanOrEqual(Math.abs(d) + 1e-3);
      }
    }
  });

  it("refuses a row that is not a whole number of 32-value blocks", () => {
    expect(() => encode(GgmlType.Q8_0, new Float32Array(40))).toThrow(/multiple of 32/);
  });
});
