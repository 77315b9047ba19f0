// The GGUF reader: reads back every value type the writer writes, the tensor infos with
// their offsets, and a real llama.cpp vocabulary file (the source of the stand-ins' tokenizers).
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGgufHeader } from "../../scripts/models/gguf/reader";
import { GgmlType, gguf, GgufValue, GgufValueType, tensorBytes, writeGguf } from "../../scripts/models/gguf/writer";
import { llamaSourceFile } from "../../scripts/models/llama-source";

describe("the GGUF reader", () => {
  it("reads back every metadata value type and tensor info the writer wrote", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "aide-gguf-read-")), "m.gguf");
    const md: Record<string, GgufValue> = {
      "t.str": gguf.str("héllo <|im_end|>"),
      "t.u8": gguf.u8(250),
      "t.i8": { type: GgufValueType.INT8, value: -7 },
      "t.u16": { type: GgufValueType.UINT16, value: 65000 },
      "t.i16": { type: GgufValueType.INT16, value: -30000 },
      "t.u32": gguf.u32(4_000_000_000),
      "t.i32": gguf.i32(-2_000_000_000),
      "t.f32": gguf.f32(0.5),
      "t.u64": gguf.u64(2 ** 40 + 3),
      "t.i64": { type: GgufValueType.INT64, value: -(2 ** 40) },
      "t.f64": { type: GgufValueType.FLOAT64, value: Math.PI },
      "t.bool": gguf.bool(true),
      "t.strings": gguf.strings(["a", "", "Ġ Ġ"]),
      "t.i32s": gguf.i32s([1, -2, 3]),
      "t.f32s": gguf.f32s([0.25, -1]),
      "t.u8s": gguf.numbers(GgufValueType.UINT8, [0, 255]),
      "t.i8s": gguf.numbers(GgufValueType.INT8, [-128, 127]),
      "t.bools": { type: GgufValueType.ARRAY, itemType: GgufValueType.BOOL, value: [true, false] },
    };
    const tensors = [
      { name: "a", dims: [64, 3], type: GgmlType.Q8_0, values: (n: number) => new Float32Array(n).fill(0.5) },
      { name: "b", dims: [5], type: GgmlType.F32, values: (n: number) => new Float32Array(n) },
      { name: "c", dims: [32, 2], type: GgmlType.F16, values: (n: number) => new Float32Array(n) },
    ];
    await writeGguf(path, md, tensors);

    const h = readGgufHeader(path);
    expect(h.version).toBe(3);
    for (const [k, v] of Object.entries(md)) expect(h.metadata[k]).toEqual(v);
    expect(h.metadata["general.alignment"]).toEqual(gguf.u32(32));
    expect(h.tensors.map((t) => [t.name, t.dims, t.type])).toEqual(tensors.map((t) => [t.name, t.dims, t.type]));
    // Offsets: each tensor starts where the previous one ended, rounded up to 32 bytes.
    expect(h.tensors.map((t) => t.offset)).toEqual([0, 224, 256]);
    expect(h.tensors[0].bytes).toBe(tensorBytes(GgmlType.Q8_0, 192));
    expect(h.dataOffset % 32).toBe(0);
    expect(statSync(path).size).toBe(h.dataOffset + 256 + 32 * 2 * 2);
  });

  it("reads a real vocabulary out of llama.cpp's ggml-vocab-qwen2.gguf", () => {
    const h = readGgufHeader(llamaSourceFile("models/ggml-vocab-qwen2.gguf"));
    const tokens = h.metadata["tokenizer.ggml.tokens"];
    expect(h.metadata["tokenizer.ggml.model"]).toEqual(gguf.str("gpt2"));
    expect(h.metadata["tokenizer.ggml.pre"]).toEqual(gguf.str("qwen2"));
    expect(tokens.value).toHaveLength(151936);
    expect((tokens.value as string[]).indexOf("<|im_end|>")).toBe(151645);
    expect((h.metadata["tokenizer.ggml.merges"].value as string[]).length).toBeGreaterThan(150_000);
    expect(h.metadata["tokenizer.ggml.token_type"]).toMatchObject({ itemType: GgufValueType.INT32 });
  });

  it("says the file is truncated rather than returning half a header", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aide-gguf-trunc-"));
    const { copyFileSync, truncateSync } = await import("node:fs");
    const src = llamaSourceFile("models/ggml-vocab-bert-bge.gguf");
    copyFileSync(src, join(dir, "v.gguf"));
    truncateSync(join(dir, "v.gguf"), 100_000);
    expect(() => readGgufHeader(join(dir, "v.gguf"))).toThrow(/truncated/);
  });
});
