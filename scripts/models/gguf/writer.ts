// A small GGUF v3 writer: metadata key/values, tensor infos, aligned tensor data.
// Enough to write llama-architecture test models that llama.cpp and node-llama-cpp
// load. Format: ggml's docs/gguf.md (magic "GGUF", version 3, little-endian).
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { once } from "node:events";

const ALIGNMENT = 32;

export enum GgufValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** ggml tensor types (ggml.h's enum ggml_type). The writer encodes F32, F16, Q8_0 and
 * Q4_0; the others appear in files llama-quantize writes, which the reader reads. */
export enum GgmlType {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30,
}

/** Values per block and bytes per block of each type (ggml.c's type_traits). */
const BLOCKS: Record<GgmlType, { values: number; bytes: number }> = {
  [GgmlType.F32]: { values: 1, bytes: 4 }, [GgmlType.F16]: { values: 1, bytes: 2 }, [GgmlType.BF16]: { values: 1, bytes: 2 },
  [GgmlType.Q4_0]: { values: 32, bytes: 18 }, [GgmlType.Q4_1]: { values: 32, bytes: 20 },
  [GgmlType.Q5_0]: { values: 32, bytes: 22 }, [GgmlType.Q5_1]: { values: 32, bytes: 24 },
  [GgmlType.Q8_0]: { values: 32, bytes: 34 }, [GgmlType.Q8_1]: { values: 32, bytes: 36 },
  [GgmlType.Q2_K]: { values: 256, bytes: 84 }, [GgmlType.Q3_K]: { values: 256, bytes: 110 },
  [GgmlType.Q4_K]: { values: 256, bytes: 144 }, [GgmlType.Q5_K]: { values: 256, bytes: 176 },
  [GgmlType.Q6_K]: { values: 256, bytes: 210 }, [GgmlType.Q8_K]: { values: 256, bytes: 292 },
};

/** ggml's own name for a type ("q4_0", "q6_K"), as llama.cpp's logs print it. */
export function ggmlTypeName(type: GgmlType): string {
  const name = GgmlType[type];
  return name === undefined ? `type ${type}` : name.toLowerCase().replace(/_k$/, "_K");
}

type NumberType =
  | GgufValueType.UINT8 | GgufValueType.INT8 | GgufValueType.UINT16 | GgufValueType.INT16
  | GgufValueType.UINT32 | GgufValueType.INT32 | GgufValueType.FLOAT32
  | GgufValueType.UINT64 | GgufValueType.INT64 | GgufValueType.FLOAT64;

/** One metadata value. 64-bit integers are numbers: every key llama.cpp files carry fits
 * in 2^53 (the reader refuses one that does not rather than round it). */
export type GgufValue =
  | { type: GgufValueType.STRING; value: string }
  | { type: NumberType; value: number }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType.STRING; value: string[] }
  | { type: GgufValueType.ARRAY; itemType: NumberType; value: number[] }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType.BOOL; value: boolean[] };

export const gguf = {
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  u8: (value: number): GgufValue => ({ type: GgufValueType.UINT8, value }),
  i32: (value: number): GgufValue => ({ type: GgufValueType.INT32, value }),
  u32: (value: number): GgufValue => ({ type: GgufValueType.UINT32, value }),
  u64: (value: number): GgufValue => ({ type: GgufValueType.UINT64, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  strings: (value: string[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value }),
  f32s: (value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value }),
  i32s: (value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value }),
  numbers: (itemType: NumberType, value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType, value }),
};

/** A tensor to write: `dims` innermost first (ggml's ne[0], ne[1]); `values` produces
 * the f32 values row by row on demand so a few-hundred-MB model never sits in memory. */
export interface TensorSpec {
  name: string;
  dims: number[];
  type: GgmlType;
  values: (count: number) => Float32Array;
}

/** Bytes one tensor occupies on disk for a ggml type. */
export function tensorBytes(type: GgmlType, elements: number): number {
  const block = BLOCKS[type];
  if (!block) throw new Error(`ggml type ${type} is not one this code knows the block size of — add it to BLOCKS in scripts/models/gguf/writer.ts`);
  if (elements % block.values) throw new Error(`${ggmlTypeName(type)} needs a multiple of ${block.values} values, got ${elements}`);
  return (elements / block.values) * block.bytes;
}

class ByteSink {
  private chunks: Buffer[] = [];
  private scratch = Buffer.alloc(8);
  length = 0;
  bytes(b: Buffer): void { this.chunks.push(b); this.length += b.length; }
  private put(n: number, write: (b: Buffer) => void): void { write(this.scratch); this.bytes(Buffer.from(this.scratch.subarray(0, n))); }
  u32(v: number): void { this.put(4, (b) => b.writeUInt32LE(v, 0)); }
  u64(v: number): void { this.put(8, (b) => b.writeBigUInt64LE(BigInt(v), 0)); }
  f32(v: number): void { this.put(4, (b) => b.writeFloatLE(v, 0)); }
  number(type: NumberType, v: number): void {
    switch (type) {
      case GgufValueType.UINT8: return this.put(1, (b) => b.writeUInt8(v, 0));
      case GgufValueType.INT8: return this.put(1, (b) => b.writeInt8(v, 0));
      case GgufValueType.UINT16: return this.put(2, (b) => b.writeUInt16LE(v, 0));
      case GgufValueType.INT16: return this.put(2, (b) => b.writeInt16LE(v, 0));
      case GgufValueType.UINT32: return this.u32(v);
      case GgufValueType.INT32: return this.put(4, (b) => b.writeInt32LE(v, 0));
      case GgufValueType.FLOAT32: return this.f32(v);
      case GgufValueType.UINT64: return this.u64(v);
      case GgufValueType.INT64: return this.put(8, (b) => b.writeBigInt64LE(BigInt(v), 0));
      case GgufValueType.FLOAT64: return this.put(8, (b) => b.writeDoubleLE(v, 0));
    }
  }
  str(s: string): void { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.bytes(b); }
  pad(): void { const r = this.length % ALIGNMENT; if (r) this.bytes(Buffer.alloc(ALIGNMENT - r)); }
  take(): Buffer { const b = Buffer.concat(this.chunks); this.chunks = []; return b; }
}

function writeValue(out: ByteSink, v: GgufValue): void {
  out.u32(v.type);
  switch (v.type) {
    case GgufValueType.STRING: out.str(v.value); return;
    case GgufValueType.BOOL: out.bytes(Buffer.from([v.value ? 1 : 0])); return;
    case GgufValueType.ARRAY:
      out.u32(v.itemType);
      out.u64(v.value.length);
      if (v.itemType === GgufValueType.STRING) for (const item of v.value) out.str(item);
      else if (v.itemType === GgufValueType.BOOL) out.bytes(Buffer.from(v.value.map((b) => (b ? 1 : 0))));
      else for (const item of v.value) out.number(v.itemType, item);
      return;
    default: out.number(v.type, v.value);
  }
}

// One shared scratch float: f16() runs once per block of a multi-GB model, so it must
// not allocate.
const F32_SCRATCH = new Float32Array(1);
const U32_SCRATCH = new Uint32Array(F32_SCRATCH.buffer);

function f16(x: number): number {
  // IEEE half from float: enough precision handling for scales of random weights.
  F32_SCRATCH[0] = x;
  const i = U32_SCRATCH[0];
  const sign = (i >>> 16) & 0x8000;
  let exp = ((i >>> 23) & 0xff) - 127 + 15;
  let mant = i & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values to zero
  if (exp >= 31) return sign | 0x7c00;
  mant = mant + 0x1000; // round to nearest
  if (mant & 0x800000) { mant = 0; exp += 1; if (exp >= 31) return sign | 0x7c00; }
  return sign | (exp << 10) | (mant >>> 13);
}

/** Encodes f32 values as a ggml type (blocks of 32 for the quantized types). Plain
 * indexed loops over typed arrays: the 3B stand-in pushes ~3 G values through here. */
export function encode(type: GgmlType, values: Float32Array): Buffer {
  if (type === GgmlType.F32) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (type === GgmlType.F16) {
    const b = Buffer.alloc(values.length * 2);
    const halves = new Uint16Array(b.buffer, b.byteOffset, values.length);
    for (let k = 0; k < values.length; k++) halves[k] = f16(values[k]); // x86 is little-endian, as GGUF
    return b;
  }
  if (type !== GgmlType.Q8_0 && type !== GgmlType.Q4_0) {
    throw new Error(`the GGUF writer encodes f32, f16, q8_0 and q4_0, not ${ggmlTypeName(type)} — write q8_0 and let llama-quantize make ${ggmlTypeName(type)}`);
  }
  const blocks = values.length / 32;
  if (!Number.isInteger(blocks)) throw new Error(`quantized tensors need a multiple of 32 values, got ${values.length}`);
  return type === GgmlType.Q8_0 ? encodeQ8_0(values, blocks) : encodeQ4_0(values, blocks);
}

function encodeQ8_0(values: Float32Array, blocks: number): Buffer {
  const b = Buffer.allocUnsafe(blocks * 34); // every byte is written below
  const signed = new Int8Array(b.buffer, b.byteOffset, b.length);
  for (let blk = 0, x = 0, o = 0; blk < blocks; blk++, x += 32, o += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) { const v = values[x + j]; const a = v < 0 ? -v : v; if (a > amax) amax = a; }
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    const h = f16(d);
    b[o] = h & 0xff; b[o + 1] = h >>> 8;
    for (let j = 0; j < 32; j++) {
      // Math.round, written out: Math.round here made the whole encoder 3x slower
      // (measured on Node 20: 30 vs 100 M values/s). floor(y + 0.5) is one too high only
      // when y + 0.5 rounds up to an integer (y = 0.49999999999999994); the check undoes it.
      const y = values[x + j] * id;
      let r = Math.floor(y + 0.5);
      if (r - 0.5 > y) r -= 1;
      signed[o + 2 + j] = r;
    }
  }
  return b;
}

function encodeQ4_0(values: Float32Array, blocks: number): Buffer {
  const b = Buffer.allocUnsafe(blocks * 18);
  for (let blk = 0, x = 0, o = 0; blk < blocks; blk++, x += 32, o += 18) {
    // d = max / -8 keeps the sign of the largest magnitude (ggml's reference).
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) { const v = values[x + j]; if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; } }
    const d = max / -8;
    const id = d ? 1 / d : 0;
    const h = f16(d);
    b[o] = h & 0xff; b[o + 1] = h >>> 8;
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc(values[x + j] * id + 8.5));
      const hi = Math.min(15, Math.trunc(values[x + j + 16] * id + 8.5));
      b[o + 2 + j] = lo | (hi << 4);
    }
  }
  return b;
}

/** Writes a GGUF file atomically (temp file + rename): a killed generator leaves no
 * half-written model that a later run would mistake for a good one. */
export async function writeGguf(path: string, metadata: Record<string, GgufValue>, tensors: TensorSpec[]): Promise<void> {
  const head = new ByteSink();
  head.bytes(Buffer.from("GGUF", "ascii"));
  head.u32(3);
  head.u64(tensors.length);
  const kv = { ...metadata, "general.alignment": gguf.u32(ALIGNMENT) };
  head.u64(Object.keys(kv).length);
  for (const [key, value] of Object.entries(kv)) { head.str(key); writeValue(head, value); }
  let offset = 0;
  for (const t of tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    offset += tensorBytes(t.type, elements);
    offset = Math.ceil(offset / ALIGNMENT) * ALIGNMENT;
  }
  head.pad();

  const tmp = `${path}.tmp-${process.pid}`;
  const file = createWriteStream(tmp);
  const write = async (b: Buffer) => { if (!file.write(b)) await once(file, "drain"); };
  try {
    await write(head.take());
    for (const t of tensors) {
      const [rowLen, ...rest] = t.dims;
      const rows = rest.reduce((a, b) => a * b, 1);
      // Rows are generated and encoded in batches of about 1M values.
      const batchRows = Math.max(1, Math.floor((1 << 20) / rowLen));
      let written = 0;
      for (let r = 0; r < rows; r += batchRows) {
        const n = Math.min(batchRows, rows - r) * rowLen;
        const enc = encode(t.type, t.values(n));
        written += enc.length;
        await write(enc);
      }
      const r = written % ALIGNMENT;
      if (r) await write(Buffer.alloc(ALIGNMENT - r));
    }
    file.end();
    await once(file, "finish");
  } catch (e) {
    // A full disk or a bad tensor must not leave gigabytes of temp file behind.
    file.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  await rename(tmp, path);
}
