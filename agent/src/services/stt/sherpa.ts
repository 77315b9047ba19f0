import { OfflineRecognizer, OfflineRecognizerConfig } from "sherpa-onnx-node";
import { abortError, throwIfAborted } from "../../abort";
import { defaultModelDir, findBundle, ModelBundle, ModelError } from "../../models/manifest";
import { validateInChildProcess } from "../../models/validate";

export interface Transcript {
  text: string;
  /** Seconds of audio that were transcribed. */
  audioSeconds: number;
  /** True when the utterance was longer than `maxSeconds` and only its start was heard. */
  truncated?: boolean;
}

export interface SpeechToText {
  /** The rate the model listens at; other rates are resampled (8–192 kHz accepted). */
  readonly sampleRate: number;
  readonly name: string;
  transcribe(pcm: Int16Array, sampleRate: number, signal?: AbortSignal): Promise<Transcript>;
}

export interface SttOptions {
  /** Model directory with manifest.json (default: $AIDE_MODELS_DIR or $AIDE_CACHE/models). */
  modelDir?: string;
  /** Which stt entry of the manifest (default: the first). */
  name?: string;
  /** ONNX Runtime threads; 2 = both cores of a Core 2 Duo. */
  numThreads?: number;
  /** Longest utterance transcribed; longer audio keeps its first `maxSeconds`. */
  maxSeconds?: number;
  /** Load the bundle in a child process first (a bad bundle can abort the process). */
  validate?: boolean;
}

/** Bad audio from the caller: names the problem and what to send instead. */
export class SttInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SttInputError";
  }
}

const MIN_RATE = 8000;
const MAX_RATE = 192000;
/** Below this RMS (≈ -60 dBFS) an utterance is treated as silence without running the
 * model: attention decoders (Moonshine, Whisper) tend to invent words for silence. */
const SILENCE_RMS = 32;

export function recognizerConfig(bundle: ModelBundle, numThreads: number): OfflineRecognizerConfig {
  const f = bundle.files;
  const common = { tokens: f.tokens, numThreads, provider: "cpu", debug: 0 };
  const featConfig = { sampleRate: 16000, featureDim: 80 };
  switch (bundle.format) {
    case "sherpa-nemo-ctc":
      return { featConfig, modelConfig: { ...common, nemoCtc: { model: f.model } }, decodingMethod: "greedy_search" };
    case "sherpa-moonshine":
      return {
        featConfig,
        modelConfig: {
          ...common,
          moonshine: { preprocessor: f.preprocessor, encoder: f.encoder, uncachedDecoder: f.uncachedDecoder, cachedDecoder: f.cachedDecoder },
        },
        decodingMethod: "greedy_search",
      };
    default:
      throw new ModelError(`stt model ${bundle.name}: format ${bundle.format} is not a speech recognizer`);
  }
}

/** Drops what recognizers print for non-speech ("[BLANK_AUDIO]", "(music)") and extra spaces. */
function cleanTranscript(text: string): string {
  return text
    .replace(/\[[^\]]*\]|\([^)]*\)|<\|[^|]*\|>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

function rms(pcm: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  return Math.sqrt(sum / Math.max(1, pcm.length));
}

class SherpaSpeechToText implements SpeechToText {
  readonly sampleRate = 16000;
  /** One decode at a time: the recognizer is shared, and 2 cores gain nothing from more. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly recognizer: OfflineRecognizer,
    private readonly maxSeconds: number,
  ) {}

  async transcribe(pcm: Int16Array, sampleRate: number, signal?: AbortSignal): Promise<Transcript> {
    if (!(pcm instanceof Int16Array)) throw new SttInputError("STT input must be an Int16Array of mono PCM16 samples");
    if (!Number.isInteger(sampleRate) || sampleRate < MIN_RATE || sampleRate > MAX_RATE) {
      throw new SttInputError(
        `STT input sample rate ${sampleRate} Hz is not usable — send mono PCM16 at ${this.sampleRate} Hz (${MIN_RATE}–${MAX_RATE} Hz are resampled)`,
      );
    }
    throwIfAborted(signal, "transcription");
    const maxSamples = Math.floor(this.maxSeconds * sampleRate);
    const truncated = pcm.length > maxSamples;
    const heard = truncated ? pcm.subarray(0, maxSamples) : pcm;
    const audioSeconds = heard.length / sampleRate;
    const result = (text: string): Transcript => ({ text, audioSeconds, ...(truncated ? { truncated } : {}) });
    // Under 20 ms there is no word to hear; silence is not worth a model run.
    if (heard.length < sampleRate * 0.02 || rms(heard) < SILENCE_RMS) return result("");

    const samples = new Float32Array(heard.length);
    for (let i = 0; i < heard.length; i++) samples[i] = heard[i] / 32768;

    const run = this.queue.then(async () => {
      throwIfAborted(signal, "transcription");
      const stream = this.recognizer.createStream();
      // sherpa resamples other rates to the model's 16 kHz itself.
      stream.acceptWaveform({ samples, sampleRate });
      return this.recognizer.decodeAsync(stream);
    });
    this.queue = run.catch(() => undefined);

    if (!signal) return result(cleanTranscript((await run).text));
    // The native decode cannot be stopped; an abort answers at once and the queue
    // still waits for the decode to finish before the next one starts.
    return new Promise<Transcript>((resolve, reject) => {
      const onAbort = () => reject(abortError("transcription"));
      signal.addEventListener("abort", onAbort, { once: true });
      run.then(
        (r) => {
          signal.removeEventListener("abort", onAbort);
          resolve(result(cleanTranscript(r.text)));
        },
        (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  }
}

/**
 * Builds the recognizer for the manifest's stt model once (native memory is freed only
 * by GC, so keep and reuse it). Throws a ModelError naming the missing/corrupt file and
 * the command that fixes it.
 */
export async function createSpeechToText(options: SttOptions = {}): Promise<SpeechToText> {
  const dir = options.modelDir ?? defaultModelDir();
  const bundle = findBundle(dir, "stt", options.name);
  const config = recognizerConfig(bundle, options.numThreads ?? 2);
  if (options.validate !== false) await validateInChildProcess(bundle, "stt", config);
  const recognizer = await OfflineRecognizer.createAsync(config);
  return new SherpaSpeechToText(bundle.name, recognizer, options.maxSeconds ?? 30);
}
