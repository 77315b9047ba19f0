/**
 * VadProcessor: listens to the microphone audio with Silero VAD and says when the user
 * starts and stops speaking. Audio is passed on first, then the event, so the next
 * stage has every sample of the utterance when it hears "stopped".
 */
import { Direction, Frame, FrameProcessor, TurnCounter, frame } from "../pipeline";
import { DEFAULT_VAD_PARAMS, SileroVad, TurnDetector, VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE, VadParams } from "../services/vad";

/** Silence after which the answer is prepared (not spoken): see TurnDetector's pauseMs. */
export const DEFAULT_PAUSE_MS = 250;

export class VadProcessor extends FrameProcessor {
  private readonly detector: TurnDetector;
  private readonly pending = new Int16Array(VAD_FRAME_SAMPLES);
  private pendingLength = 0;
  /** Audio time of the start of `pending`, ms since the session began. */
  private audioMs = 0;

  constructor(private readonly vad: SileroVad, private readonly turns: TurnCounter, params: Partial<VadParams> = {}) {
    super();
    const merged = { ...DEFAULT_VAD_PARAMS, ...params };
    // Prepare the answer at a pause well inside the end-of-turn silence (default 250 ms of 600).
    merged.pauseMs ??= Math.min(DEFAULT_PAUSE_MS, Math.floor(merged.minSilenceMs / 2));
    this.detector = new TurnDetector(merged, (VAD_FRAME_SAMPLES * 1000) / VAD_SAMPLE_RATE);
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    this.push(f, direction);
    if (f.type !== "input-audio" || direction !== "downstream") return;
    if (f.sampleRate !== VAD_SAMPLE_RATE) throw new Error(`VAD got audio at ${f.sampleRate} Hz: it listens at ${VAD_SAMPLE_RATE} Hz`);
    let at = 0;
    while (at < f.pcm.length) {
      const take = Math.min(VAD_FRAME_SAMPLES - this.pendingLength, f.pcm.length - at);
      this.pending.set(f.pcm.subarray(at, at + take), this.pendingLength);
      this.pendingLength += take;
      at += take;
      if (this.pendingLength < VAD_FRAME_SAMPLES) break;
      const frameStartMs = this.audioMs;
      this.audioMs += (VAD_FRAME_SAMPLES * 1000) / VAD_SAMPLE_RATE;
      this.pendingLength = 0;
      const event = this.detector.push(await this.vad.probability(this.pending), frameStartMs);
      if (event?.type === "start") this.push(frame("user-started-speaking", { at: event.atMs }));
      if (event?.type === "pause") this.push(frame("user-paused-speaking", { at: event.atMs }));
      if (event?.type === "stop") {
        const turnId = this.turns.begin();
        this.push(frame("user-stopped-speaking", { at: event.atMs }));
        this.push(frame("metrics", { turnId, mark: "user-stopped-speaking", at: performance.now() }));
      }
    }
  }
}
