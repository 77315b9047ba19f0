// Text to speech: clauses of the LLM's answer → 24 kHz PCM16 chunks of ≤ 40 ms.
// Two voices: a Piper/VITS voice through sherpa-onnx when one is downloaded, and
// espeak-ng, which needs no download and always works.
import { ModelError } from "../../models/manifest";
import { EspeakOptions, EspeakVoice } from "./espeak";
import { loadSherpaVoice, SherpaVoiceOptions } from "./sherpa";
import { TextToSpeech, VoiceOutput, VoiceOutputOptions } from "./voice";

export type { TextToSpeech, VoiceOutputOptions } from "./voice";
export type { ClauseSplitter, ClauseSplitterOptions } from "./clauses";
export { firstClauseSplitter } from "./clauses";
export { speakableText } from "./speakable";
export { resample, StreamResampler } from "./resample";
export { MAX_CHUNK_MS } from "./chunks";
export { EspeakVoice } from "./espeak";
export { SherpaVoice, loadSherpaVoice } from "./sherpa";

export interface TtsOptions extends VoiceOutputOptions {
  /** "piper": the manifest's Piper voice; "espeak": espeak-ng; "auto" (default):
   * Piper when the model directory has one, else espeak-ng. */
  voice?: "auto" | "piper" | "espeak";
  piper?: SherpaVoiceOptions;
  espeak?: EspeakOptions;
  /** Called when "auto" falls back to espeak-ng, with the reason (log it). */
  onFallback?: (reason: string) => void;
}

export async function createTextToSpeech(options: TtsOptions = {}): Promise<TextToSpeech> {
  const voice = options.voice ?? "auto";
  if (voice === "espeak") return new VoiceOutput(new EspeakVoice(options.espeak), options);
  try {
    return new VoiceOutput(await loadSherpaVoice(options.piper), options);
  } catch (e) {
    if (voice === "piper" || !(e instanceof ModelError)) throw e;
    options.onFallback?.(`${(e as Error).message}; speaking with espeak-ng instead`);
    return new VoiceOutput(new EspeakVoice(options.espeak), options);
  }
}
