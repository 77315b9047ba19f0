// Reads a GGUF file's header: metadata key/values and tensor infos (name, dims, type,
// offset), not the tensor data. Used to copy a real vocabulary out of llama.cpp's
// models/ggml-vocab-*.gguf files and to check what llama-quantize wrote. The values
// come back in the writer's own types, so a key read here can be written unchanged.
// Format: ggml's docs/gguf.md (versions 2 and 3; little-endian only).
import { closeSync, openSync, readSync } from "node:fs";
import { GgmlType, GgufValue, GgufValueType, tensorBytes } from "./writer";

export interface GgufTensorInfo {
  name: string;
  /** Innermost first (ggml's ne[0], ne[1], ...). */
  dims: number[];
  type: GgmlType;
  /** Bytes from the start of the tensor data section. */
  offset: number;
  /** Bytes the tensor's data occupies. */
  bytes: number;
}

export interface GgufHeader {
  version: number;
  metadata: Record<string, GgufValue>;
  tensors: GgufTensorInfo[];
  /** File offset where tensor data begins (after the aligned header). */
  dataOffset: number;
}

// Header reads go through a window that grows on demand: a vocabulary's metadata is a
// few MB, while a model's header is read without touching its gigabytes of data.
const WINDOW = 1 << 20;

class FileCursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;

  constructor(private readonly fd: number, private readonly path: string) {}

  private ensure(n: number): number {
    const at = this.pos - this.bufStart;
    if (at + n <= this.buf.length) return at;
    const buf = Buffer.alloc(Math.max(n, WINDOW));
    const got = readSync(this.fd, buf, 0, buf.length, this.pos);
    if (got < n) throw new Error(`${this.path}: GGUF header ends early at byte ${this.pos + got} — the file is truncated; delete it and generate or download it again`);
    this.buf = buf.subarray(0, got);
    this.bufStart = this.pos;
    return 0;
  }

  private take<T>(n: number, read: (b: Buffer, at: number) => T): T {
    const at = this.ensure(n);
    this.pos += n;
    return read(this.buf, at);
  }

  u32(): number { return this.take(4, (b, at) => b.readUInt32LE(at)); }
  u64(): number {
    const v = this.take(8, (b, at) => b.readBigUInt64LE(at));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${this.path}: a 64-bit value ${v} at byte ${this.pos - 8} exceeds 2^53 — not a GGUF file this reader can represent`);
    return Number(v);
  }
  str(): string { const n = this.u64(); return this.take(n, (b, at) => b.toString("utf8", at, at + n)); }
  bool(): boolean { return this.take(1, (b, at) => b[at] !== 0); }

  number(type: GgufValueType): number {
    switch (type) {
      case GgufValueType.UINT8: return this.take(1, (b, at) => b.readUInt8(at));
      case GgufValueType.INT8: return this.take(1, (b, at) => b.readInt8(at));
      case GgufValueType.UINT16: return this.take(2, (b, at) => b.readUInt16LE(at));
      case GgufValueType.INT16: return this.take(2, (b, at) => b.readInt16LE(at));
      case GgufValueType.UINT32: return this.u32();
      case GgufValueType.INT32: return this.take(4, (b, at) => b.readInt32LE(at));
      case GgufValueType.FLOAT32: return this.take(4, (b, at) => b.readFloatLE(at));
      case GgufValueType.UINT64: return this.u64();
      case GgufValueType.INT64: {
        const v = this.take(8, (b, at) => b.readBigInt64LE(at));
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`${this.path}: an int64 value ${v} exceeds 2^53`);
        return Number(v);
      }
      case GgufValueType.FLOAT64: return this.take(8, (b, at) => b.readDoubleLE(at));
      default: throw new Error(`${this.path}: unknown GGUF value type ${type} at byte ${this.pos} — the file is corrupt or newer than this reader`);
    }
  }
}

function readValue(c: FileCursor, type: GgufValueType, key: string, path: string): GgufValue {
  switch (type) {
    case GgufValueType.STRING: return { type, value: c.str() };
    case GgufValueType.BOOL: return { type, value: c.bool() };
    case GgufValueType.ARRAY: {
      const itemType = c.u32() as GgufValueType;
      const n = c.u64();
      if (itemType === GgufValueType.STRING) {
        const value: string[] = new Array(n);
        for (let i = 0; i < n; i++) value[i] = c.str();
        return { type, itemType, value };
      }
      if (itemType === GgufValueType.BOOL) {
        const value: boolean[] = new Array(n);
        for (let i = 0; i < n; i++) value[i] = c.bool();
        return { type, itemType, value };
      }
      if (itemType === GgufValueType.ARRAY) throw new Error(`${path}: key ${key} is an array of arrays, which no llama.cpp key uses and this reader does not read`);
      const value: number[] = new Array(n);
      for (let i = 0; i < n; i++) value[i] = c.number(itemType);
      return { type, itemType, value } as GgufValue;
    }
    default: return { type, value: c.number(type) } as GgufValue;
  }
}

/** Reads the header of the GGUF file at `path`. */
export function readGgufHeader(path: string): GgufHeader {
  const fd = openSync(path, "r");
  try {
    const c = new FileCursor(fd, path);
    const magic = [c.number(GgufValueType.UINT8), c.number(GgufValueType.UINT8), c.number(GgufValueType.UINT8), c.number(GgufValueType.UINT8)];
    if (String.fromCharCode(...magic) !== "GGUF") throw new Error(`${path}: not a GGUF file (it does not start with "GGUF")`);
    const version = c.u32();
    if (version !== 2 && version !== 3) throw new Error(`${path}: GGUF version ${version}; this reader reads versions 2 and 3`);
    const tensorCount = c.u64();
    const kvCount = c.u64();
    const metadata: Record<string, GgufValue> = {};
    for (let i = 0; i < kvCount; i++) {
      const key = c.str();
      metadata[key] = readValue(c, c.u32() as GgufValueType, key, path);
    }
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.str();
      const nDims = c.u32();
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(c.u64());
      const type = c.u32() as GgmlType;
      const offset = c.u64();
      tensors.push({ name, dims, type, offset, bytes: tensorBytes(type, dims.reduce((a, b) => a * b, 1)) });
    }
    const align = metadata["general.alignment"];
    const alignment = align && align.type === GgufValueType.UINT32 ? align.value : 32;
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    return { version, metadata, tensors, dataOffset };
  } finally {
    closeSync(fd);
  }
}

/** A metadata value's plain value, or an error naming the key when it is missing. */
export function metadataValue<T extends GgufValue["value"]>(header: GgufHeader, key: string, path = "GGUF file"): T {
  const v = header.metadata[key];
  if (!v) throw new Error(`${path}: metadata key ${key} is missing`);
  return v.value as T;
}
