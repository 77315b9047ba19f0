// What both speech services (and the agent's client) check and describe the same way:
// the PCM format of an audio stream, and the `info` entries Home Assistant reads.
import { WyomingRequestError } from "./server";

export interface PcmFormat {
  rate: number;
  /** Bytes per sample: always 2 (PCM16) once checked. */
  width: number;
  channels: number;
}

/** Aide's models are English ones (Moonshine tiny en, a Piper en_US voice, espeak-ng en-us). */
export const SPEECH_LANGUAGES = ["en"];

const MIN_RATE = 8000;
const MAX_RATE = 192000;

/** The format fields of an audio-start/audio-chunk, checked; `where` names the event in errors. */
export function pcmFormat(where: string, data: Record<string, unknown>, what: string): PcmFormat {
  const { rate, width, channels } = data;
  if (typeof rate !== "number" || !Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new WyomingRequestError(`${where} rate ${JSON.stringify(rate)}: ${what} takes a whole number of Hz from ${MIN_RATE} to ${MAX_RATE} (16000 is best; other rates are resampled)`, "bad-audio-format");
  }
  if (width !== 2) {
    throw new WyomingRequestError(`${where} width ${JSON.stringify(width)}: ${what} takes 16-bit PCM only — send width 2 (bytes per sample)`, "bad-audio-format");
  }
  if (typeof channels !== "number" || !Number.isInteger(channels) || channels < 1 || channels > 8) {
    throw new WyomingRequestError(`${where} channels ${JSON.stringify(channels)}: send 1 (mono; up to 8 channels are mixed down)`, "bad-audio-format");
  }
  return { rate, width, channels };
}

/** An `info` artifact: a program, or (with languages) one of its models or voices. */
export function programInfo(name: string, description: string, withLanguages = false): Record<string, unknown> {
  return {
    name,
    description,
    attribution: { name: "Aide (sherpa-onnx)", url: "https://github.com/k2-fsa/sherpa-onnx" },
    installed: true,
    version: null,
    ...(withLanguages ? { languages: SPEECH_LANGUAGES } : {}),
  };
}

/** Interleaved PCM16 frames → mono, by averaging the channels. */
export function mixToMono(interleaved: Int16Array, channels: number): Int16Array {
  if (channels === 1) return interleaved;
  const out = new Int16Array(Math.floor(interleaved.length / channels));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += interleaved[i * channels + c];
    out[i] = Math.round(sum / channels);
  }
  return out;
}
