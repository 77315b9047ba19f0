// The Wyoming wire format (Home Assistant's protocol for speech services), as the
// OHF-Voice/wyoming README documents it:
//
//   {"type": "...", "data": {...}, "data_length": N, "payload_length": M, "version": "..."}\n
//   <N bytes of extra JSON data, merged over "data" (optional)>
//   <M bytes of binary payload, usually PCM audio (optional)>
//
// Everything a peer sends is bounded before it is buffered: a peer that never sends a
// newline, or declares a 4 GB payload, gets a WyomingProtocolError instead of our memory.

/** The protocol version we write in every header (the README's event set as of 1.8). */
export const WYOMING_VERSION = "1.8.0";

export interface WyomingEvent {
  type: string;
  data: Record<string, unknown>;
  payload?: Buffer;
}

export interface WyomingLimits {
  /** Longest header line, newline excluded (default 1 MiB). */
  maxHeaderBytes: number;
  /** Largest `data_length` (default 1 MiB). */
  maxDataBytes: number;
  /** Largest `payload_length` (default 16 MiB: over 8 minutes of 16 kHz audio in one chunk). */
  maxPayloadBytes: number;
}

export const DEFAULT_LIMITS: WyomingLimits = { maxHeaderBytes: 1 << 20, maxDataBytes: 1 << 20, maxPayloadBytes: 16 << 20 };

/** A peer broke the protocol; the message says what it sent and what it should send. */
export class WyomingProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WyomingProtocolError";
  }
}

export function event(type: string, data: Record<string, unknown> = {}, payload?: Buffer): WyomingEvent {
  return payload ? { type, data, payload } : { type, data };
}

/** One event as bytes: the header line (data inline), then the payload. */
export function encodeEvent(e: WyomingEvent): Buffer {
  const header: Record<string, unknown> = { type: e.type, version: WYOMING_VERSION };
  if (Object.keys(e.data).length) header.data = e.data;
  if (e.payload?.length) header.payload_length = e.payload.length;
  const line = Buffer.from(`${JSON.stringify(header)}\n`, "utf8");
  return e.payload?.length ? Buffer.concat([line, e.payload]) : line;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}

function excerpt(bytes: Buffer): string {
  const text = bytes.subarray(0, 60).toString("utf8").replace(/[^\x20-\x7e]/g, "?");
  return JSON.stringify(bytes.length > 60 ? `${text}…` : text);
}

type Pending = { type: string; data: Record<string, unknown>; dataLength: number; payloadLength: number };

/**
 * Incremental reader: feed it the bytes of a stream as they arrive, in any pieces; it
 * calls `emit` for each event as it completes. After it throws (having emitted the
 * events before the fault), the stream is unusable — the next event's start is
 * unknown: close the connection.
 */
export class EventParser {
  private readonly limits: WyomingLimits;
  /** Bytes of the header line (or data/payload) received so far. */
  private parts: Buffer[] = [];
  private have = 0;
  private pending?: Pending;
  /** The last complete event carried a payload: garbage after it is likely its overflow. */
  private lastPayload?: { type: string; length: number };

  constructor(limits: Partial<WyomingLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  push(chunk: Buffer, emit: (e: WyomingEvent) => void): void {
    let rest = chunk;
    while (rest.length) {
      if (!this.pending) {
        const nl = rest.indexOf(0x0a);
        const take = nl < 0 ? rest : rest.subarray(0, nl);
        if (this.have + take.length > this.limits.maxHeaderBytes) {
          throw new WyomingProtocolError(
            `event header line is longer than ${this.limits.maxHeaderBytes} bytes${nl < 0 ? " (no newline yet)" : ""} — each event starts with one JSON line of at most that size; put audio in the payload`,
          );
        }
        if (nl < 0) {
          this.keep(rest);
          return;
        }
        this.keep(take);
        rest = rest.subarray(nl + 1);
        this.pending = this.parseHeader(this.take());
      } else {
        const p = this.pending;
        const need = (p.dataLength > 0 ? p.dataLength : p.payloadLength) - this.have;
        const piece = rest.subarray(0, need);
        this.keep(piece);
        rest = rest.subarray(piece.length);
        if (piece.length < need) return;
        if (p.dataLength > 0) {
          p.data = { ...p.data, ...this.parseData(p.type, this.take()) };
          p.dataLength = 0;
        } else {
          emit(this.finish(this.take()));
          continue;
        }
      }
      if (this.pending && this.pending.dataLength === 0 && this.pending.payloadLength === 0) emit(this.finish());
    }
  }

  /** The stream ended: throws if it ended inside an event. */
  end(): void {
    const p = this.pending;
    if (p) {
      const part = p.dataLength > 0 ? `data (data_length ${p.dataLength})` : `payload (payload_length ${p.payloadLength})`;
      throw new WyomingProtocolError(`connection ended in the middle of a "${p.type}" event: got ${this.have} bytes of its ${part} — send the whole event before closing`);
    }
    if (this.have) {
      throw new WyomingProtocolError(`connection ended in the middle of an event header (${this.have} bytes without a newline)${this.overflowHint(" — end each header line with \\n")}`);
    }
  }

  /** Bytes that are not a header right after a payload are most likely that payload's overflow. */
  private overflowHint(otherwise: string): string {
    if (!this.lastPayload) return otherwise;
    return ` — it follows a "${this.lastPayload.type}" event's payload_length ${this.lastPayload.length} bytes: was that payload longer than declared? Send exactly payload_length bytes`;
  }

  private keep(b: Buffer): void {
    if (!b.length) return;
    this.parts.push(Buffer.from(b)); // a copy: the socket reuses its buffers
    this.have += b.length;
  }

  private take(): Buffer {
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.have);
    this.parts = [];
    this.have = 0;
    return all;
  }

  private finish(payload?: Buffer): WyomingEvent {
    const p = this.pending!;
    this.pending = undefined;
    this.lastPayload = payload ? { type: p.type, length: payload.length } : undefined;
    return event(p.type, p.data, payload);
  }

  private parseHeader(line: Buffer): Pending {
    let header: unknown;
    try {
      header = JSON.parse(line.toString("utf8"));
    } catch (e) {
      throw new WyomingProtocolError(`event header is not JSON (${(e as Error).message}): ${excerpt(line)}${this.overflowHint(" — each event starts with one JSON object on one line")}`);
    }
    if (!isObject(header)) throw new WyomingProtocolError(`event header must be a JSON object, got ${kindOf(header)}: ${excerpt(line)}`);
    if (typeof header.type !== "string" || !header.type) {
      throw new WyomingProtocolError(`event header has no "type" string: ${excerpt(line)} — e.g. {"type": "describe"}`);
    }
    const type = header.type;
    if (header.data !== undefined && header.data !== null && !isObject(header.data)) {
      throw new WyomingProtocolError(`"${type}" event: "data" must be a JSON object, got ${kindOf(header.data)}`);
    }
    const length = (field: "data_length" | "payload_length", max: number): number => {
      const v = header[field as keyof typeof header] as unknown;
      if (v === undefined || v === null) return 0;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new WyomingProtocolError(`"${type}" event: ${field} must be a whole number of bytes, got ${JSON.stringify(v)}`);
      if (v > max) throw new WyomingProtocolError(`"${type}" event: ${field} ${v} is over this service's limit of ${max} bytes — send it in smaller events`);
      return v;
    };
    return {
      type,
      data: isObject(header.data) ? header.data : {},
      dataLength: length("data_length", this.limits.maxDataBytes),
      payloadLength: length("payload_length", this.limits.maxPayloadBytes),
    };
  }

  private parseData(type: string, bytes: Buffer): Record<string, unknown> {
    let data: unknown;
    try {
      data = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      throw new WyomingProtocolError(`"${type}" event: its data_length bytes are not JSON (${(e as Error).message}): ${excerpt(bytes)}`);
    }
    if (!isObject(data)) throw new WyomingProtocolError(`"${type}" event: its extra data must be a JSON object, got ${kindOf(data)}`);
    return data;
  }
}
