/**
 * Silero VAD v5 on onnxruntime-node: the probability that a 32 ms frame (512 samples at
 * 16 kHz) holds speech. The model is the one `@ricky0123/vad-web` ships. v5 is
 * streaming: it takes the frame with the previous frame's last 64 samples in front, and a
 * recurrent state tensor [2, 1, 128] carried from frame to frame.
 */
import * as path from "node:path";
import * as fs from "node:fs";
import * as ort from "onnxruntime-node";

export const VAD_SAMPLE_RATE = 16000;
export const VAD_FRAME_SAMPLES = 512;
const CONTEXT_SAMPLES = 64;
const STATE_SHAPE = [2, 1, 128];

/** The Silero v5 model inside the installed @ricky0123/vad-web package. */
export function bundledSileroModelPath(): string {
  const pkg = require.resolve("@ricky0123/vad-web/package.json");
  const model = path.join(path.dirname(pkg), "dist", "silero_vad_v5.onnx");
  if (!fs.existsSync(model)) {
    throw new Error(`Silero VAD model missing at ${model}: reinstall the agent's packages (npm ci) — @ricky0123/vad-web ships it`);
  }
  return model;
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** One ONNX session per model file, shared by every conversation (each keeps its own state). */
function loadSession(modelPath: string): Promise<ort.InferenceSession> {
  let session = sessions.get(modelPath);
  if (!session) {
    // One intra-op thread: a 32 ms frame takes well under a millisecond, and the cores
    // belong to STT/LLM/TTS.
    session = ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" });
    session.catch(() => sessions.delete(modelPath));
    sessions.set(modelPath, session);
  }
  return session;
}

/** One conversation's streaming Silero state. Not shareable between conversations. */
export class SileroVad {
  private state: Float32Array = new Float32Array(STATE_SHAPE[0] * STATE_SHAPE[1] * STATE_SHAPE[2]);
  private readonly input = new Float32Array(CONTEXT_SAMPLES + VAD_FRAME_SAMPLES);
  private readonly sr = new ort.Tensor("int64", BigInt64Array.from([BigInt(VAD_SAMPLE_RATE)]), []);
  /** Total time spent inside the model, for the agent-overhead benchmark. */
  inferenceMs = 0;

  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(modelPath = bundledSileroModelPath()): Promise<SileroVad> {
    try {
      return new SileroVad(await loadSession(modelPath));
    } catch (error) {
      throw new Error(`cannot load Silero VAD model ${modelPath}: ${(error as Error).message} — is it the v5 ONNX file?`);
    }
  }

  /** Speech probability of one 512-sample frame of 16 kHz PCM16. */
  async probability(frame: Int16Array): Promise<number> {
    if (frame.length !== VAD_FRAME_SAMPLES) throw new Error(`Silero VAD takes ${VAD_FRAME_SAMPLES}-sample frames, got ${frame.length}`);
    const started = performance.now();
    const input = this.input;
    input.copyWithin(0, VAD_FRAME_SAMPLES, VAD_FRAME_SAMPLES + CONTEXT_SAMPLES);
    for (let i = 0; i < VAD_FRAME_SAMPLES; i++) input[CONTEXT_SAMPLES + i] = frame[i] / 32768;
    const out = await this.session.run({
      // No copy: runs of one conversation are sequential, and `input` changes only between them.
      input: new ort.Tensor("float32", input, [1, input.length]),
      state: new ort.Tensor("float32", this.state, STATE_SHAPE),
      sr: this.sr,
    });
    // Copy: the runtime's output array may come from another JS realm (jest's sandbox),
    // and onnxruntime-node's input check is an instanceof.
    this.state.set(out.stateN.data as Float32Array);
    this.inferenceMs += performance.now() - started;
    return (out.output.data as Float32Array)[0];
  }

  reset(): void {
    this.state = new Float32Array(this.state.length);
    this.input.fill(0);
  }
}
