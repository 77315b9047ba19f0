// A Wyoming peer written from the protocol's README (OHF-Voice/wyoming, "Format"), not
// from Aide's codec: bytes over a plain net.Socket, so the tests prove the services talk
// the documented protocol rather than agree with themselves.
//
//   header: one JSON object line + "\n" (type, data?, data_length?, payload_length?)
//   then data_length bytes of JSON merged over data, then payload_length bytes.
import { connect, Socket } from "node:net";

export interface RawEvent {
  type: string;
  data: Record<string, any>;
  payload: Buffer;
}

/** The header line as Home Assistant's Python library writes it: data after the line, counted by data_length. */
export function rawEvent(type: string, data?: Record<string, unknown>, payload?: Buffer): Buffer {
  const header: Record<string, unknown> = { type, version: "1.5.0" };
  const dataBytes = data ? Buffer.from(JSON.stringify(data)) : undefined;
  if (dataBytes) header.data_length = dataBytes.length;
  if (payload) header.payload_length = payload.length;
  return Buffer.concat([Buffer.from(JSON.stringify(header) + "\n"), dataBytes ?? Buffer.alloc(0), payload ?? Buffer.alloc(0)]);
}

export class RawPeer {
  private buffer = Buffer.alloc(0);
  private readonly events: RawEvent[] = [];
  private waiters: Array<() => void> = [];
  ended = false;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.parse();
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => undefined);
  }

  static open(port: number, host = "127.0.0.1"): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, allowHalfOpen: true }, () => resolve(new RawPeer(s)));
      s.once("error", reject);
    });
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  send(type: string, data?: Record<string, unknown>, payload?: Buffer): void {
    this.socket.write(rawEvent(type, data, payload));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private parse(): void {
    for (;;) {
      const nl = this.buffer.indexOf(0x0a);
      if (nl < 0) return;
      const header = JSON.parse(this.buffer.subarray(0, nl).toString("utf8"));
      const dataLength: number = header.data_length ?? 0;
      const payloadLength: number = header.payload_length ?? 0;
      const end = nl + 1 + dataLength + payloadLength;
      if (this.buffer.length < end) return;
      const extra = dataLength ? JSON.parse(this.buffer.subarray(nl + 1, nl + 1 + dataLength).toString("utf8")) : {};
      this.events.push({ type: header.type, data: { ...(header.data ?? {}), ...extra }, payload: Buffer.from(this.buffer.subarray(nl + 1 + dataLength, end)) });
      this.buffer = this.buffer.subarray(end);
    }
  }

  /** The next event from the service; throws if the connection ends first or nothing comes in time. */
  async next(timeoutMs = 30_000): Promise<RawEvent> {
    const deadline = Date.now() + timeoutMs;
    while (!this.events.length) {
      if (this.ended || this.closed) throw new Error("the service closed the connection instead of sending an event");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.events.shift()!;
  }

  /** Events up to and including the first of type `last`. */
  async until(last: string, timeoutMs = 60_000): Promise<RawEvent[]> {
    const got: RawEvent[] = [];
    for (;;) {
      const e = await this.next(timeoutMs);
      got.push(e);
      if (e.type === last) return got;
    }
  }

  /** Resolves when the service has closed its side (the end of its stream) within `timeoutMs`. */
  async closedByService(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && !this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.ended || this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
