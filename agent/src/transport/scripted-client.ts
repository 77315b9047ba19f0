/**
 * A pipecat-protocol client without a browser: connects, says client-ready, sends mic
 * audio or text, and records what comes back with arrival times. Used by the transport
 * tests and by `npm run bench:agent`.
 */
import { ClientOptions, WebSocket } from "ws";
import { RtviMessage, decodeServerMessage, encodeAudio, encodeRtvi } from "./wire";

export interface ReceivedAudio { pcm: Int16Array; sampleRate: number; at: number }
export interface ReceivedMessage { message: RtviMessage; at: number }

export class ScriptedClient {
  readonly audio: ReceivedAudio[] = [];
  readonly messages: ReceivedMessage[] = [];
  closeCode: number | undefined;
  closeReason = "";
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      const at = performance.now();
      const m = decodeServerMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (m.kind === "audio") this.audio.push({ pcm: m.pcm, sampleRate: m.sampleRate, at });
      else this.messages.push({ message: m.message, at });
      this.wake();
    });
    ws.on("close", (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.wake();
    });
  }

  /** `options`: ws's client options, e.g. the CA to trust for wss or the local address to connect from. */
  static async connect(url: string, timeoutMs = 5000, options?: ClientOptions): Promise<ScriptedClient> {
    const ws = new WebSocket(url, options);
    const client = new ScriptedClient(ws);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no WebSocket connection to ${url} within ${timeoutMs} ms`)); }, timeoutMs);
      ws.once("open", () => { clearTimeout(timer); resolve(); });
      ws.once("error", (error) => { clearTimeout(timer); reject(error); });
    });
    return client;
  }

  /** Sends client-ready and waits for the matching bot-ready, as pipecat's connect() does. */
  async ready(timeoutMs = 5000): Promise<RtviMessage> {
    const id = Math.random().toString(36).slice(2);
    this.sendRtvi("client-ready", { version: "2.1.0", about: { library: "scripted-client" } }, id);
    const reply = await this.waitForMessage((m) => m.type === "bot-ready" && m.id === id, timeoutMs);
    return reply;
  }

  sendRtvi(type: string, data?: unknown, id?: string): void {
    this.ws.send(encodeRtvi(type, data, id));
  }

  sendText(content: string): void {
    this.sendRtvi("send-text", { content, options: {} });
  }

  sendAudio(pcm: Int16Array, sampleRate = 16000): void {
    this.ws.send(encodeAudio(pcm, sampleRate));
  }

  sendRaw(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Milliseconds of audio received at `sampleRate` (default the player's 24 kHz). */
  audioMs(from = 0, sampleRate = 24000): number {
    let samples = 0;
    for (let i = from; i < this.audio.length; i++) samples += this.audio[i].pcm.length;
    return (samples * 1000) / sampleRate;
  }

  async waitForMessage(match: (m: RtviMessage) => boolean, timeoutMs = 5000, since = 0): Promise<RtviMessage> {
    const found = await this.waitFor(() => this.messages.slice(since).find((r) => match(r.message))?.message, timeoutMs, "RTVI message");
    return found;
  }

  async waitFor<T>(check: () => T | undefined | false, timeoutMs: number, what = "condition"): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false) return value;
      if (this.closeCode !== undefined) throw new Error(`connection closed (${this.closeCode} ${this.closeReason}) while waiting for ${what}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        // Also poll: some conditions (server state) change without a message arriving.
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  async closed(timeoutMs = 5000): Promise<number> {
    return this.waitFor(() => this.closeCode, timeoutMs, "close").catch(() => {
      if (this.closeCode !== undefined) return this.closeCode;
      throw new Error(`connection still open after ${timeoutMs} ms`);
    });
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
