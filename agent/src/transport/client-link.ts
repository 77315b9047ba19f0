/**
 * The one client connection a session talks to, as both transports see it. Keeps the
 * `ws` socket out of the processors, so tests can drive them with a recording link.
 */
import { encodeAudio, encodeRtvi } from "./wire";
import type { MetricsFrame } from "../pipeline";

export interface ClientSocket {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
  readonly isOpen: boolean;
}

export class ClientLink {
  /** Bytes and messages sent, for diagnostics. */
  sentAudioFrames = 0;

  constructor(private readonly socket: ClientSocket, readonly onMetrics: (frame: MetricsFrame) => void = () => {}) {}

  get isOpen(): boolean {
    return this.socket.isOpen;
  }

  sendRtvi(type: string, data?: unknown, id?: string): void {
    if (this.socket.isOpen) this.socket.send(encodeRtvi(type, data, id));
  }

  sendAudio(pcm: Int16Array, sampleRate: number): void {
    if (!this.socket.isOpen) return;
    this.sentAudioFrames++;
    this.socket.send(encodeAudio(pcm, sampleRate));
  }

  /** Tells the client something went wrong; `fatal` makes pipecat's client disconnect. */
  sendError(message: string, fatal = false): void {
    this.sendRtvi("error", { message, fatal });
  }

  close(code: number, reason: string): void {
    if (this.socket.isOpen) this.socket.close(code, reason);
  }
}
