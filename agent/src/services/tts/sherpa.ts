// A natural voice: Piper/VITS through sherpa-onnx (ONNX Runtime without AVX, espeak-ng's
// data for phonemes). Audio arrives a sentence at a time through the progress callback,
// so the first sentence plays while the next is computed.
import { OfflineTts, OfflineTtsConfig } from "sherpa-onnx-node";
import { espeakDataDir } from "../../models/espeak";
import { defaultModelDir, findBundle, ModelBundle, ModelError } from "../../models/manifest";
import { validateInChildProcess } from "../../models/validate";
import { Channel } from "./channel";
import { VoiceEngine } from "./voice";

export interface SherpaVoiceOptions {
  /** Model directory with manifest.json (default: $AIDE_MODELS_DIR or $AIDE_CACHE/models). */
  modelDir?: string;
  /** Which tts entry of the manifest (default: the first). */
  name?: string;
  numThreads?: number;
  /** 1 = the voice's own pace; 1.2 = 20% faster. */
  speed?: number;
  /** Load the bundle in a child process first (a bad bundle can abort the process). */
  validate?: boolean;
}

export function voiceConfig(bundle: ModelBundle, numThreads: number): OfflineTtsConfig {
  if (bundle.format !== "piper-vits") throw new ModelError(`tts model ${bundle.name}: format ${bundle.format} is not a Piper/VITS voice`);
  return {
    model: { vits: { model: bundle.files.model, tokens: bundle.files.tokens, dataDir: espeakDataDir() }, numThreads, provider: "cpu", debug: 0 },
    // One sentence per progress callback: the first audio does not wait for the whole text.
    maxNumSentences: 1,
  };
}

export class SherpaVoice implements VoiceEngine {
  readonly nativeRate: number;
  /** One synthesis at a time on the shared native voice. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly name: string, private readonly tts: OfflineTts, private readonly speed: number) {
    this.nativeRate = tts.sampleRate;
  }

  speak(text: string, signal?: AbortSignal): AsyncIterable<Int16Array> {
    let cancelled = false;
    const out = new Channel<Int16Array>(() => (cancelled = true));
    const run = this.queue.then(async () => {
      if (signal?.aborted || cancelled) return;
      await this.tts.generateAsync({
        text,
        sid: 0,
        speed: this.speed,
        onProgress: ({ samples }) => {
          if (signal?.aborted || cancelled) return 0; // tells sherpa to stop after this sentence
          const pcm = new Int16Array(samples.length);
          for (let i = 0; i < samples.length; i++) {
            const v = samples[i] * 32767;
            pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
          }
          out.push(pcm);
          return 1;
        },
      });
    });
    this.queue = run.catch(() => undefined);
    run.then(
      () => out.close(),
      (e: Error) => out.close(new Error(`voice ${this.name} failed: ${e.message}`)),
    );
    return out;
  }
}

/** Loads the manifest's Piper voice once (keep and reuse it: native memory is freed only by GC). */
export async function loadSherpaVoice(options: SherpaVoiceOptions = {}): Promise<SherpaVoice> {
  const dir = options.modelDir ?? defaultModelDir();
  const bundle = findBundle(dir, "tts", options.name);
  const config = voiceConfig(bundle, options.numThreads ?? 2);
  if (options.validate !== false) await validateInChildProcess(bundle, "tts", config);
  const tts = await OfflineTts.createAsync(config);
  return new SherpaVoice(bundle.name, tts, options.speed ?? 1);
}
