/**
 * Turns per-frame speech probabilities into "speech started" / "speech stopped", with
 * hysteresis (start above one threshold, keep talking until below a lower one) and
 * minimum durations, so a click does not start a turn and a breath does not end one.
 * Times are audio time in milliseconds since the stream began.
 */
export interface VadParams {
  /** Probability at or above which a frame is speech. */
  startThreshold: number;
  /** Probability below which a frame counts as silence once speaking. */
  stopThreshold: number;
  /** Speech must last this long before it counts as the user speaking. */
  minSpeechMs: number;
  /** Silence this long ends the user's turn (RealtimeSTT uses ~0.6 s). */
  minSilenceMs: number;
  /** Silence this long (shorter than minSilenceMs) says the user may have finished: the
   * answer is prepared, and spoken only if the silence reaches minSilenceMs (0 = never). */
  pauseMs?: number;
}

export const DEFAULT_VAD_PARAMS: VadParams = { startThreshold: 0.5, stopThreshold: 0.35, minSpeechMs: 96, minSilenceMs: 600 };

export type VadEvent = { type: "start"; atMs: number } | { type: "pause"; atMs: number } | { type: "stop"; atMs: number };

export class TurnDetector {
  private speaking = false;
  private runStartMs: number | undefined;
  private silenceStartMs: number | undefined;
  /** A pause event went out for the current silence. */
  private paused = false;

  constructor(private readonly params: VadParams, private readonly frameMs: number) {
    for (const key of ["startThreshold", "stopThreshold"] as const) {
      const v = params[key];
      if (!(v > 0 && v < 1)) throw new Error(`VAD ${key} ${v} must be between 0 and 1 (exclusive)`);
    }
    if (params.stopThreshold > params.startThreshold) {
      throw new Error(`VAD stopThreshold ${params.stopThreshold} is above startThreshold ${params.startThreshold}: it must be at or below it`);
    }
    if (!(params.minSpeechMs >= 0) || !(params.minSilenceMs > 0)) throw new Error("VAD minSpeechMs must be >= 0 and minSilenceMs > 0");
    if (params.pauseMs !== undefined && !(params.pauseMs >= 0 && params.pauseMs < params.minSilenceMs)) {
      throw new Error(`VAD pauseMs ${params.pauseMs} must be at least 0 and shorter than minSilenceMs ${params.minSilenceMs} (0 turns preparing at a pause off)`);
    }
  }

  get isSpeaking(): boolean {
    return this.speaking;
  }

  /** The probability of the frame that starts at `atMs`; returns the event it causes, if any. */
  push(probability: number, atMs: number): VadEvent | undefined {
    if (!this.speaking) {
      if (probability < this.params.startThreshold) {
        this.runStartMs = undefined;
        return undefined;
      }
      this.runStartMs ??= atMs;
      if (atMs + this.frameMs - this.runStartMs < this.params.minSpeechMs) return undefined;
      this.speaking = true;
      this.silenceStartMs = undefined;
      return { type: "start", atMs: this.runStartMs };
    }
    if (probability >= this.params.stopThreshold) {
      this.silenceStartMs = undefined;
      return undefined;
    }
    if (this.silenceStartMs === undefined) {
      this.silenceStartMs = atMs;
      this.paused = false;
    }
    const silentMs = atMs + this.frameMs - this.silenceStartMs;
    if (silentMs < this.params.minSilenceMs) {
      if (this.paused || !this.params.pauseMs || silentMs < this.params.pauseMs) return undefined;
      this.paused = true;
      return { type: "pause", atMs: this.silenceStartMs };
    }
    this.speaking = false;
    this.runStartMs = undefined;
    const stoppedAt = this.silenceStartMs;
    this.silenceStartMs = undefined;
    return { type: "stop", atMs: stoppedAt };
  }
}
