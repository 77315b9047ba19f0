import { resample, StreamResampler } from "../../src/services/tts";

function sine(freq: number, rate: number, seconds: number, amp = 10000): Int16Array {
  return Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate)));
}

/** Amplitude of `freq` in `pcm` (single-bin DFT), away from the edges. */
function amplitudeAt(pcm: Int16Array, rate: number, freq: number): number {
  let re = 0;
  let im = 0;
  const from = Math.floor(pcm.length * 0.1);
  const to = Math.floor(pcm.length * 0.9);
  for (let i = from; i < to; i++) {
    re += pcm[i] * Math.cos((2 * Math.PI * freq * i) / rate);
    im += pcm[i] * Math.sin((2 * Math.PI * freq * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}

describe("resampling voice audio for the transport", () => {
  it("keeps a tone's pitch and loudness from 22.05 kHz to 24 kHz", () => {
    const out = resample(sine(440, 22050, 1), 22050, 24000);
    expect(out.length).toBe(24000);
    expect(amplitudeAt(out, 24000, 440)).toBeGreaterThan(9500);
    expect(amplitudeAt(out, 24000, 440)).toBeLessThan(10500);
  });

  it("filters out what the lower rate cannot carry instead of aliasing it", () => {
    // 10 kHz is above 24 kHz→8 kHz's Nyquist (4 kHz); a naive resampler folds it to 2 kHz.
    const out = resample(sine(10000, 24000, 1), 24000, 8000);
    expect(out.length).toBe(8000);
    expect(amplitudeAt(out, 8000, 2000)).toBeLessThan(300);
    const kept = resample(sine(1000, 24000, 1), 24000, 8000);
    expect(amplitudeAt(kept, 8000, 1000)).toBeGreaterThan(9000);
  });

  it("gives the same samples streamed in odd-sized pieces as all at once", () => {
    const input = sine(300, 16000, 0.5);
    const whole = resample(input, 16000, 24000);
    const r = new StreamResampler(16000, 24000);
    const parts: number[] = [];
    for (let i = 0; i < input.length; i += 137) parts.push(...r.push(input.subarray(i, i + 137)));
    parts.push(...r.flush());
    expect(Int16Array.from(parts)).toEqual(whole);
  });

  it("copies audio already at the right rate, and handles empty input", () => {
    const input = sine(200, 24000, 0.01);
    const out = resample(input, 24000, 24000);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
    expect(resample(new Int16Array(0), 22050, 24000).length).toBe(0);
  });

  it("clips instead of wrapping around at full scale", () => {
    const square = Int16Array.from({ length: 2205 }, (_, i) => (Math.floor(i / 40) % 2 ? 32767 : -32768));
    const out = resample(square, 22050, 24000);
    // Mid-plateau the filter's ringing pushes past full scale; it must saturate, keeping the sign.
    let checked = 0;
    for (let i = 0; i < out.length; i++) {
      const pos = Math.floor((i * 22050) / 24000);
      const phase = pos % 40;
      if (pos < 40 || pos > 2160 || phase < 12 || phase > 28) continue;
      expect(Math.sign(out[i])).toBe(Math.sign(square[pos]));
      expect(Math.abs(out[i])).toBeGreaterThan(30000);
      checked++;
    }
    expect(checked).toBeGreaterThan(500);
  });

  it("refuses rates that are not positive whole numbers", () => {
    expect(() => resample(new Int16Array(10), 0, 24000)).toThrow(/input rate 0 Hz/);
    expect(() => resample(new Int16Array(10), 22050, 24000.5)).toThrow(/output rate 24000.5 Hz/);
  });
});
