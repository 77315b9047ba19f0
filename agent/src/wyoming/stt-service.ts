// Aide's speech recognizer as a Wyoming ASR service:
//
//   → transcribe (optional) → audio-start → audio-chunk … → audio-stop   ← transcript {text}
//
// Audio arrives as PCM16 at any rate from 8 to 192 kHz (the recognizer resamples to its
// 16 kHz itself) and any channel count (mixed down to mono); other sample widths are refused.
import type { SpeechToText } from "../services/stt";
import { event, WyomingEvent } from "./codec";
import { WyomingRequestError, WyomingService, WyomingSession } from "./server";
import { mixToMono, pcmFormat, PcmFormat, programInfo } from "./speech-format";

export interface SttServiceOptions {
  /** Longest utterance kept per audio stream; later audio is dropped (the recognizer hears this much anyway). */
  maxSeconds?: number;
}

export function sttService(stt: SpeechToText, options: SttServiceOptions = {}): WyomingService {
  const maxSeconds = options.maxSeconds ?? 30;
  return {
    kind: "stt",
    info: () => ({
      asr: [{ ...programInfo("aide-stt", "Aide speech to text (sherpa-onnx, runs without AVX)"), models: [programInfo(stt.name, `${stt.name} via sherpa-onnx`, true)], supports_transcript_streaming: false }],
    }),
    session: (send) => new SttSession(stt, send, maxSeconds),
  };
}

class SttSession implements WyomingSession {
  private format?: PcmFormat;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private maxBytes = 0;

  constructor(private readonly stt: SpeechToText, private readonly send: (e: WyomingEvent) => Promise<void>, private readonly maxSeconds: number) {}

  async handle(e: WyomingEvent, signal: AbortSignal): Promise<void> {
    switch (e.type) {
      case "transcribe":
        return; // one model, one language: the request's name/language change nothing
      case "audio-start":
        this.format = pcmFormat("audio-start", e.data, "speech recognition");
        this.chunks = [];
        this.bytes = 0;
        this.maxBytes = Math.floor(this.maxSeconds * this.format.rate) * this.format.width * this.format.channels;
        return;
      case "audio-chunk":
        return this.keep(e);
      case "audio-stop":
        return this.transcribe(signal);
      default:
        throw new WyomingRequestError(`this is a speech-to-text service: "${e.type}" is not one of its events (describe, transcribe, audio-start, audio-chunk, audio-stop)`, "unknown-event");
    }
  }

  private keep(e: WyomingEvent): void {
    const f = this.format;
    if (!f) throw new WyomingRequestError(`audio-chunk before audio-start: send audio-start {rate, width, channels} first`);
    const chunkFormat = pcmFormat("audio-chunk", { ...f, ...e.data }, "speech recognition");
    if (chunkFormat.rate !== f.rate || chunkFormat.width !== f.width || chunkFormat.channels !== f.channels) {
      throw new WyomingRequestError(
        `audio-chunk format ${chunkFormat.rate} Hz/${chunkFormat.width * 8}-bit/${chunkFormat.channels} ch differs from its audio-start's ${f.rate} Hz/${f.width * 8}-bit/${f.channels} ch — start a new stream to change format`,
      );
    }
    const payload = e.payload ?? Buffer.alloc(0);
    if (payload.length % (f.width * f.channels)) {
      throw new WyomingRequestError(`audio-chunk payload of ${payload.length} bytes is not whole ${f.channels}-channel 16-bit frames (a multiple of ${f.width * f.channels} bytes)`);
    }
    const room = this.maxBytes - this.bytes;
    if (room <= 0) return;
    const kept = payload.subarray(0, room);
    this.chunks.push(kept);
    this.bytes += kept.length;
  }

  private async transcribe(signal: AbortSignal): Promise<void> {
    const f = this.format;
    if (!f) throw new WyomingRequestError(`audio-stop before audio-start: send audio-start, audio-chunk…, then audio-stop`);
    const all = Buffer.concat(this.chunks, this.bytes);
    this.format = undefined;
    this.chunks = [];
    this.bytes = 0;
    const frames = new Int16Array(all.buffer.slice(all.byteOffset, all.byteOffset + all.length));
    const { text } = await this.stt.transcribe(mixToMono(frames, f.channels), f.rate, signal);
    await this.send(event("transcript", { text }));
  }
}
