// Sample-rate conversion for PCM16 mono: voices speak at 22.05 kHz (Piper, espeak-ng),
// the transport sends 24 kHz. A windowed-sinc filter (not linear interpolation) so that
// downsampling does not alias; phases are precomputed because rates are rational
// (22050→24000 has 160 phases), which keeps it to a multiply-add per tap on a Core 2.
import { concatPcm } from "../../pipeline/frames";

const TAPS_EACH_SIDE = 16;
/** Fraction of the lower Nyquist frequency kept; the rest is the filter's transition band. */
const PASSBAND = 0.92;
/** Above this many phases (odd rate pairs) kernels are computed per sample instead. */
const MAX_TABLE_PHASES = 4096;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function checkRate(rate: number, what: string): void {
  if (!Number.isInteger(rate) || rate <= 0 || rate > 384000) {
    throw new RangeError(`resample: ${what} rate ${rate} Hz is not a positive whole number of Hz (up to 384000)`);
  }
}

/**
 * Streaming resampler: push input as it arrives, get output for everything that can be
 * computed so far; flush() returns the tail. Concatenated output equals resampling the
 * whole signal at once (no clicks at chunk borders).
 */
export class StreamResampler {
  private readonly up: number; // output step in reduced units
  private readonly down: number;
  private readonly half: number;
  private readonly cutoff: number;
  private readonly table?: Float32Array[];
  /** Input samples not yet needed by every future output, starting at absolute index `base`. */
  private buf = new Float32Array(0);
  private base = 0;
  /** Absolute index of the next output sample. */
  private next = 0;
  private received = 0;

  constructor(readonly from: number, readonly to: number) {
    checkRate(from, "input");
    checkRate(to, "output");
    const g = gcd(from, to);
    this.up = to / g;
    this.down = from / g;
    this.cutoff = Math.min(1, to / from) * PASSBAND;
    this.half = Math.ceil(TAPS_EACH_SIDE / Math.min(1, to / from));
    if (this.up <= MAX_TABLE_PHASES) {
      this.table = Array.from({ length: this.up }, (_, p) => this.kernel(p / this.up));
    }
  }

  /** Weights for input samples pos-half+1 .. pos+half when the output falls at pos + frac. */
  private kernel(frac: number): Float32Array {
    const w = new Float32Array(2 * this.half);
    let sum = 0;
    for (let j = 0; j < w.length; j++) {
      const x = j - this.half + 1 - frac; // distance from the output instant, in input samples
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * this.cutoff * x) / (Math.PI * this.cutoff * x);
      const window = 0.5 + 0.5 * Math.cos((Math.PI * x) / (this.half + 1)); // Hann
      w[j] = sinc * window;
      sum += w[j];
    }
    for (let j = 0; j < w.length; j++) w[j] /= sum; // unity gain at DC
    return w;
  }

  push(pcm: Int16Array): Int16Array {
    if (this.from === this.to) return pcm.slice();
    const merged = new Float32Array(this.buf.length + pcm.length);
    merged.set(this.buf);
    for (let i = 0; i < pcm.length; i++) merged[this.buf.length + i] = pcm[i];
    this.buf = merged;
    this.received += pcm.length;
    return this.drain(false);
  }

  flush(): Int16Array {
    if (this.from === this.to) return new Int16Array(0);
    return this.drain(true);
  }

  private drain(final: boolean): Int16Array {
    // Output i sits at input position i*down/up; it needs input up to pos + half.
    const total = final ? Math.ceil((this.received * this.up) / this.down) : Infinity;
    const out: number[] = [];
    for (;;) {
      if (this.next >= total) break;
      const num = this.next * this.down;
      const pos = Math.floor(num / this.up);
      const phase = num % this.up;
      if (!final && pos + this.half >= this.received) break;
      const w = this.table ? this.table[phase] : this.kernel(phase / this.up);
      let acc = 0;
      const start = pos - this.half + 1 - this.base;
      for (let j = 0; j < w.length; j++) {
        const k = start + j;
        if (k >= 0 && k < this.buf.length) acc += this.buf[k] * w[j];
      }
      out.push(acc > 32767 ? 32767 : acc < -32768 ? -32768 : Math.round(acc));
      this.next += 1;
    }
    // Keep only the input the next output still needs.
    const keepFrom = Math.max(0, Math.floor((this.next * this.down) / this.up) - this.half + 1 - this.base);
    const drop = Math.min(keepFrom, this.buf.length);
    if (drop > 0) {
      this.buf = this.buf.slice(drop);
      this.base += drop;
    }
    return Int16Array.from(out);
  }
}

/** Resamples a whole PCM16 mono signal from `from` Hz to `to` Hz. */
export function resample(pcm: Int16Array, from: number, to: number): Int16Array {
  const r = new StreamResampler(from, to);
  if (from === to) return pcm.slice();
  return concatPcm([r.push(pcm), r.flush()]);
}
