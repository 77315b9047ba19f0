// Real speech for tests: espeak-ng says the text, sox converts it to mono PCM16 at `rate`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function spokenPcm(text: string, rate = 16000): Int16Array {
  const dir = mkdtempSync(join(tmpdir(), "aide-speech-"));
  try {
    const wav = join(dir, "say.wav");
    const raw = join(dir, "say.raw");
    execFileSync("espeak-ng", ["-v", "en-us", "-w", wav, "--", text], { timeout: 30_000 });
    execFileSync("sox", [wav, "-r", String(rate), "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", raw], { timeout: 30_000 });
    const buf = readFileSync(raw);
    return new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Uniform white noise at `peak` (0..32767). */
export function noisePcm(seconds: number, peak: number, rate = 16000): Int16Array {
  const out = new Int16Array(Math.round(seconds * rate));
  let seed = 12345;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    out[i] = Math.round(((seed / 0x7fffffff) * 2 - 1) * peak);
  }
  return out;
}

export function peakOf(pcm: Int16Array): number {
  let p = 0;
  for (const v of pcm) p = Math.max(p, Math.abs(v));
  return p;
}
