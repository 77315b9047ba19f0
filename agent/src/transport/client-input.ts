/**
 * ClientInputTransport: the first stage. Turns what the client sends into frames
 * (mic audio, typed text, RTVI requests) and tells the client about errors that
 * travelled upstream. Bad input gets a clear error to that client; the session lives on.
 */
import { BotState, Direction, Frame, FrameProcessor, TurnCounter, frame } from "../pipeline";
import { ClientLink } from "./client-link";
import { CLIENT_INPUT_SAMPLE_RATE, ClientMessage, RTVI_PROTOCOL_VERSION, RtviMessage, WireError, decodeClientMessage, describeValue } from "./wire";

export interface ClientInputOptions {
  turns: TurnCounter;
  /** The session's: a typed turn cuts off an answer being spoken or worked out (see receiveText). */
  bot?: BotState;
  /** Largest message accepted, in bytes; a 512-byte mic chunk is ~530 on the wire. */
  maxMessageBytes?: number;
  /** Called when the client asks to end the session (RTVI `disconnect-bot`). */
  onDisconnectRequested?: () => void;
  /** Called on the client's `client-ready`: the connection is a live session from then on. */
  onClientReady?: () => void;
  /**
   * Microphone audio accepted ahead of real time (network jitter, a tab waking up). Beyond
   * it audio is dropped: input faster than real time only builds a queue (2,000 frames in
   * 2 s grew the process by ~110 MiB and kept a core busy ~21 s after the client left).
   */
  audioBurstMs?: number;
  /** More about this agent for the page, in bot-ready's `about` (e.g. `demo: true`). */
  about?: Record<string, string | boolean>;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
export const DEFAULT_AUDIO_BURST_MS = 1000;
/** A client that sends this many unusable messages is not a pipecat client: close it. */
const MAX_BAD_MESSAGES = 500;

export class ClientInputTransport extends FrameProcessor {
  private readonly maxMessageBytes: number;
  private readonly turns: TurnCounter;
  private readonly bot: BotState;
  /** Each distinct complaint is sent once per session, not once per 32 ms chunk. */
  private readonly toldClient = new Set<string>();
  private badMessages = 0;
  private readonly audioBurstMs: number;
  /** Microphone time the client may still send ahead of real time (a token bucket, in ms). */
  private audioAllowanceMs: number;
  private audioCheckedAt: number | undefined;
  private droppedAudioMs = 0;

  constructor(private readonly client: ClientLink, private readonly options: ClientInputOptions) {
    super();
    this.turns = options.turns;
    this.bot = options.bot ?? new BotState();
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.audioBurstMs = options.audioBurstMs ?? DEFAULT_AUDIO_BURST_MS;
    this.audioAllowanceMs = this.audioBurstMs;
  }

  /**
   * One WebSocket message from the client. Never throws: bad input is told to the client;
   * a failure of our own while handling it ends this session only, with the reason.
   */
  receive(bytes: Uint8Array | string): void {
    try {
      this.handle(bytes);
    } catch (error) {
      const reason = `could not handle a message from this client (${(error as Error).message}): the session ends; reconnect to start a new one`;
      this.client.sendError(reason, true);
      this.client.close(1011, reason.slice(0, 120));
    }
  }

  private handle(bytes: Uint8Array | string): void {
    if (typeof bytes === "string") return this.complain("text-message", "text WebSocket messages are not understood: send binary pipecat.Frame protobuf messages");
    if (bytes.byteLength > this.maxMessageBytes) {
      return this.complain("oversized", `message of ${bytes.byteLength} bytes is over the ${this.maxMessageBytes}-byte limit: send audio in small chunks (pipecat sends 512 bytes)`);
    }
    let message: ClientMessage;
    try {
      message = decodeClientMessage(bytes);
    } catch (error) {
      if (error instanceof WireError) return this.complain(`wire:${error.message}`, error.message);
      throw error;
    }
    switch (message.kind) {
      case "audio": return this.receiveAudio(message.pcm, message.sampleRate, message.numChannels);
      case "text": return this.receiveText(message.text);
      case "rtvi": return this.receiveRtvi(message.message);
    }
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "downstream") return this.push(f, direction);
    this.bot.observe(f);
    switch (f.type) {
      case "error":
        this.client.sendError(f.message, f.fatal);
        if (f.fatal) this.client.close(1011, f.message.slice(0, 120));
        return;
      case "metrics": return this.client.onMetrics(f);
      // The brain consumes transcriptions, so STT sends the page its copy upstream.
      case "transcription": return this.showTranscript(f.text, f.final);
      default: return;
    }
  }

  private receiveAudio(pcm: Int16Array, sampleRate: number, numChannels: number): void {
    if (sampleRate !== CLIENT_INPUT_SAMPLE_RATE || (numChannels !== 1 && numChannels !== 0)) {
      return this.complain(`rate:${sampleRate}x${numChannels}`,
        `microphone audio at ${sampleRate} Hz with ${numChannels} channel(s) is ignored: Aide takes ${CLIENT_INPUT_SAMPLE_RATE} Hz mono PCM16 — construct the transport with new WavMediaManager(512, ${CLIENT_INPUT_SAMPLE_RATE})`);
    }
    if (pcm.length === 0) return;
    if (!this.withinRealTime((pcm.length * 1000) / sampleRate)) return;
    this.push(frame("input-audio", { pcm, sampleRate }));
  }

  /** Takes `ms` of microphone audio from the allowance; false (and the client told, once) when it is spent. */
  private withinRealTime(ms: number): boolean {
    const now = performance.now();
    if (this.audioCheckedAt !== undefined) this.audioAllowanceMs = Math.min(this.audioBurstMs, this.audioAllowanceMs + (now - this.audioCheckedAt));
    this.audioCheckedAt = now;
    if (this.audioAllowanceMs >= ms) {
      this.audioAllowanceMs -= ms;
      return true;
    }
    this.droppedAudioMs += ms;
    this.complain("audio-too-fast", `microphone audio is arriving faster than real time (more than ${this.audioBurstMs} ms ahead): the excess is dropped — send audio as it is recorded`);
    return false;
  }

  /** Microphone audio dropped for arriving faster than real time, in ms. */
  get droppedAudio(): number {
    return this.droppedAudioMs;
  }

  /**
   * Typed text is a whole user turn. It supersedes whatever is in flight — the bot's speech
   * and any answer still being worked out — as speech does: a burst of 300 messages asks
   * one question (the last), not 300.
   */
  private receiveText(text: string): void {
    const trimmed = text.trim();
    if (!trimmed) return this.complain("empty-text", "empty text message ignored");
    if (this.bot.busy) this.push(frame("interruption"));
    this.bot.answerOwed();
    this.showTranscript(trimmed, true);
    const turnId = this.turns.begin();
    // A typed turn is final the moment it arrives: both marks at once (STT latency 0).
    const at = performance.now();
    this.client.onMetrics(frame("metrics", { turnId, mark: "user-stopped-speaking", at }));
    this.client.onMetrics(frame("metrics", { turnId, mark: "transcript-final", at }));
    this.push(frame("transcription", { text: trimmed, final: true, turnId }));
  }

  private showTranscript(text: string, final: boolean): void {
    this.client.sendRtvi("user-transcription", { text, final, timestamp: new Date().toISOString(), user_id: "user" });
  }

  private receiveRtvi(m: RtviMessage): void {
    switch (m.type) {
      case "client-ready":
        // pipecat's connect() resolves only on a bot-ready carrying the same id.
        this.client.sendRtvi("bot-ready", { version: RTVI_PROTOCOL_VERSION, about: { ...this.options.about, library: "aide-agent" } }, m.id);
        this.options.onClientReady?.();
        return;
      case "send-text": {
        const content = (m.data as { content?: unknown } | undefined)?.content;
        if (typeof content !== "string") return this.reject(m, "send-text needs data.content as a string");
        return this.receiveText(content);
      }
      case "disconnect-bot":
        this.options.onDisconnectRequested?.();
        return;
      case "client-message":
        return this.reject(m, `client-message ${describeValue((m.data as { t?: unknown } | undefined)?.t ?? null)} is not handled by Aide`);
      default:
        return this.reject(m, `RTVI message type ${describeValue(m.type)} is not supported by Aide`);
    }
  }

  private reject(m: RtviMessage, error: string): void {
    if (m.id !== undefined) this.client.sendRtvi("error-response", { error }, m.id);
    else this.complain(`rtvi:${error}`, error);
  }

  private complain(key: string, message: string): void {
    if (++this.badMessages > MAX_BAD_MESSAGES) {
      this.client.sendError(`closing: ${MAX_BAD_MESSAGES} unusable messages from this client — is it a pipecat client speaking protobuf over WebSocket?`, true);
      this.client.close(1008, "too many unusable messages");
      return;
    }
    if (this.toldClient.has(key) || this.toldClient.size >= 20) return;
    this.toldClient.add(key);
    this.client.sendError(message, false);
  }
}
