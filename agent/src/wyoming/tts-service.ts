// Aide's voice as a Wyoming TTS service:
//
//   → synthesize {text}                      ← audio-start, audio-chunk …, audio-stop
//   → synthesize-start, synthesize-chunk …   ← the same for each clause as soon as it is complete
//   → synthesize-stop                        ← the rest, then synthesize-stopped
//
// In a stream, the client also sends the whole text as a plain `synthesize` (the
// protocol's backwards compatibility): it is not spoken a second time.
import { ClauseSplitter, firstClauseSplitter, TextToSpeech } from "../services/tts";
import { event, WyomingEvent } from "./codec";
import { WyomingRequestError, WyomingService, WyomingSession } from "./server";
import { programInfo } from "./speech-format";

export function ttsService(tts: TextToSpeech): WyomingService {
  return {
    kind: "tts",
    info: () => ({
      tts: [{ ...programInfo("aide-tts", "Aide text to speech (Piper through sherpa-onnx, or espeak-ng)"), voices: [programInfo(tts.name, `${tts.name}, ${tts.sampleRate} Hz`, true)], supports_synthesize_streaming: true }],
    }),
    session: (send) => new TtsSession(tts, send),
  };
}

function textOf(e: WyomingEvent): string {
  const text = e.data.text;
  if (typeof text !== "string") throw new WyomingRequestError(`${e.type} needs "text" (a string) in its data, got ${JSON.stringify(text)}`);
  return text;
}

class TtsSession implements WyomingSession {
  /** Set between synthesize-start and synthesize-stop. */
  private stream?: ClauseSplitter;

  constructor(private readonly tts: TextToSpeech, private readonly send: (e: WyomingEvent) => Promise<void>) {}

  async handle(e: WyomingEvent, signal: AbortSignal): Promise<void> {
    switch (e.type) {
      case "synthesize":
        if (this.stream) return; // the stream's compatibility copy of its text
        return this.speak(textOf(e), signal);
      case "synthesize-start":
        this.stream = firstClauseSplitter();
        return;
      case "synthesize-chunk":
        if (!this.stream) throw new WyomingRequestError(`synthesize-chunk outside a stream: send synthesize-start first`);
        for (const clause of this.stream.push(textOf(e))) await this.speak(clause, signal);
        return;
      case "synthesize-stop": {
        if (!this.stream) throw new WyomingRequestError(`synthesize-stop outside a stream: send synthesize-start first`);
        const rest = this.stream.flush();
        this.stream = undefined;
        for (const clause of rest) await this.speak(clause, signal);
        await this.send(event("synthesize-stopped"));
        return;
      }
      default:
        throw new WyomingRequestError(
          `this is a text-to-speech service: "${e.type}" is not one of its events (describe, synthesize, synthesize-start, synthesize-chunk, synthesize-stop)`,
          "unknown-event",
        );
    }
  }

  /** One audio stream per text, even when nothing in it is speakable (the client waits for audio-stop). */
  private async speak(text: string, signal: AbortSignal): Promise<void> {
    const format = { rate: this.tts.sampleRate, width: 2, channels: 1 };
    await this.send(event("audio-start", format));
    for await (const pcm of this.tts.synthesize(text, signal)) {
      await this.send(event("audio-chunk", format, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength)));
    }
    if (signal.aborted) return;
    await this.send(event("audio-stop"));
  }
}
