// A small GGUF v3 writer: metadata key/values, tensor infos, aligned tensor data.
// Enough to write llama-architecture test models that llama.cpp and node-llama-cpp
// load. Format: ggml's docs/gguf.md (magic "GGUF", version 3, little-endian).
import { createWriteStream } from "node:fs";
import { rename } from "node:fs/promises";
import { once } from "node:events";

const ALIGNMENT = 32;

export enum GgufValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** ggml tensor types this writer can encode. */
export enum GgmlType { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8 }

export type GgufValue =
  | { type: GgufValueType.STRING; value: string }
  | { type: GgufValueType.UINT32 | GgufValueType.INT32 | GgufValueType.FLOAT32 | GgufValueType.UINT64; value: number }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType.STRING; value: string[] }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType.FLOAT32 | GgufValueType.INT32; value: number[] };

export const gguf = {
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  u32: (value: number): GgufValue => ({ type: GgufValueType.UINT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  strings: (value: string[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value }),
  f32s: (value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value }),
  i32s: (value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value }),
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
  switch (type) {
    case GgmlType.F32: return elements * 4;
    case GgmlType.F16: return elements * 2;
    case GgmlType.Q8_0: return (elements / 32) * 34;
    case GgmlType.Q4_0: return (elements / 32) * 18;
  }
}

class ByteSink {
  private chunks: Buffer[] = [];
  private scratch = Buffer.alloc(8);
  length = 0;
  bytes(b: Buffer): void { this.chunks.push(b); this.length += b.length; }
  u32(v: number): void { this.scratch.writeUInt32LE(v, 0); this.bytes(Buffer.from(this.scratch.subarray(0, 4))); }
  i32(v: number): void { this.scratch.writeInt32LE(v, 0); this.bytes(Buffer.from(this.scratch.subarray(0, 4))); }
  u64(v: number): void { this.scratch.writeBigUInt64LE(BigInt(v), 0); this.bytes(Buffer.from(this.scratch)); }
  f32(v: number): void { this.scratch.writeFloatLE(v, 0); this.bytes(Buffer.from(this.scratch.subarray(0, 4))); }
  str(s: string): void { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.bytes(b); }
  pad(): void { const r = this.length % ALIGNMENT; if (r) this.bytes(Buffer.alloc(ALIGNMENT - r)); }
  take(): Buffer { const b = Buffer.concat(this.chunks); this.chunks = []; return b; }
}

function writeValue(out: ByteSink, v: GgufValue): void {
  out.u32(v.type);
  switch (v.type) {
    case GgufValueType.STRING: out.str(v.value); return;
    case GgufValueType.UINT32: out.u32(v.value); return;
    case GgufValueType.INT32: out.i32(v.value); return;
    case GgufValueType.FLOAT32: out.f32(v.value); return;
    case GgufValueType.UINT64: out.u64(v.value); return;
    case GgufValueType.BOOL: out.bytes(Buffer.from([v.value ? 1 : 0])); return;
    case GgufValueType.ARRAY:
      out.u32(v.itemType);
      out.u64(v.value.length);
      for (const item of v.value) {
        if (v.itemType === GgufValueType.STRING) out.str(item as string);
        else if (v.itemType === GgufValueType.FLOAT32) out.f32(item as number);
        else out.i32(item as number);
      }
  }
}

function f16(x: number): number {
  // IEEE half from float: enough precision handling for scales of random weights.
  const f = new Float32Array([x]);
  const i = new Uint32Array(f.buffer)[0];
  const sign = (i >>> 16) & 0x8000;
  let exp = ((i >>> 23) & 0xff) - 127 + 15;
  let mant = i & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values to zero
  if (exp >= 31) return sign | 0x7c00;
  mant = mant + 0x1000; // round to nearest
  if (mant & 0x800000) { mant = 0; exp += 1; if (exp >= 31) return sign | 0x7c00; }
  return sign | (exp << 10) | (mant >>> 13);
}

/** Encodes f32 values as a ggml type (blocks of 32 for the quantized types). */
export function encode(type: GgmlType, values: Float32Array): Buffer {
  if (type === GgmlType.F32) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (type === GgmlType.F16) {
    const b = Buffer.alloc(values.length * 2);
    values.forEach((v, k) => b.writeUInt16LE(f16(v), k * 2));
    return b;
  }
  const blocks = values.length / 32;
  if (!Number.isInteger(blocks)) throw new Error(`quantized tensors need a multiple of 32 values, got ${values.length}`);
  const blockSize = type === GgmlType.Q8_0 ? 34 : 18;
  const b = Buffer.alloc(blocks * blockSize);
  for (let blk = 0; blk < blocks; blk++) {
    const x = values.subarray(blk * 32, blk * 32 + 32);
    const o = blk * blockSize;
    if (type === GgmlType.Q8_0) {
      let amax = 0;
      for (const v of x) amax = Math.max(amax, Math.abs(v));
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      b.writeUInt16LE(f16(d), o);
      for (let j = 0; j < 32; j++) b.writeInt8(Math.round(x[j] * id), o + 2 + j);
    } else {
      // Q4_0: d = max / -8 keeps the sign of the largest magnitude (ggml's reference).
      let amax = 0, max = 0;
      for (const v of x) if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
      const d = max / -8;
      const id = d ? 1 / d : 0;
      b.writeUInt16LE(f16(d), o);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.trunc(x[j] * id + 8.5));
        const hi = Math.min(15, Math.trunc(x[j + 16] * id + 8.5));
        b[o + 2 + j] = lo | (hi << 4);
      }
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
      await write(Buffer.from(enc));
    }
    const r = written % ALIGNMENT;
    if (r) await write(Buffer.alloc(ALIGNMENT - r));
  }
  file.end();
  await once(file, "finish");
  await rename(tmp, path);
}
