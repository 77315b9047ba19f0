/**
 * The one client connection a session talks to, as both transports see it. Keeps the
 * `ws` socket out of the processors, so tests can drive them with a recording link.
 */
import { encodeAudio, encodeServerRtvi, ServerRtviArgs, ServerRtviType } from "./wire";
import type { MetricsFrame } from "../pipeline";

export interface ClientSocket {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
  readonly isOpen: boolean;
  /** Bytes handed to the socket that the client has not taken yet (`ws.bufferedAmount`). */
  readonly bufferedBytes: number;
}

/**
 * What may wait for a client that does not read: ~5 s of bot audio (48 KB/s) on top of
 * what the kernel's socket buffers already hold. A client that keeps up holds ~4 KB here
 * (80 ms of audio lead plus a few RTVI messages).
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024;

/** A WebSocket close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5); `ws` throws past that. */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.byteLength <= 123) return text;
  // Cut on a character boundary: drop a trailing partial UTF-8 sequence.
  return bytes.subarray(0, 123).toString("utf8").replace(/\uFFFD+$/, "");
}

export class ClientLink {
  private closedForBacklog = false;

  constructor(
    private readonly socket: ClientSocket,
    readonly onMetrics: (frame: MetricsFrame) => void = () => {},
    private readonly maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES,
  ) {}

  get isOpen(): boolean {
    return this.socket.isOpen && !this.closedForBacklog;
  }

  sendRtvi<T extends ServerRtviType>(type: T, ...args: ServerRtviArgs<T>): void {
    this.send(() => encodeServerRtvi(type, ...args));
  }

  sendAudio(pcm: Int16Array, sampleRate: number): void {
    this.send(() => encodeAudio(pcm, sampleRate));
  }

  /** Tells the client something went wrong; `fatal` makes pipecat's client disconnect. */
  sendError(message: string, fatal = false): void {
    this.sendRtvi("error", { message, fatal });
  }

  close(code: number, reason: string): void {
    if (this.socket.isOpen) this.socket.close(code, closeReason(reason));
  }

  /** Sends unless the client has stopped taking what is sent; such a session is closed. */
  private send(encode: () => Uint8Array): void {
    if (!this.isOpen) return;
    if (this.socket.bufferedBytes > this.maxBufferedBytes) {
      this.closedForBacklog = true;
      this.socket.close(1008, closeReason(`client is not reading: over ${Math.round(this.maxBufferedBytes / 1024)} KiB of replies waiting — closing this session`));
      return;
    }
    this.socket.send(encode());
  }
}
