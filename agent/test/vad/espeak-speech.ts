/**
 * Real speech for tests, made at test time: espeak-ng says the text, sox turns it into
 * 16 kHz mono PCM16 and pads it with known silence. The truth (where speech is) is
 * measured on the samples, not assumed.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface SpeechClip {
  pcm: Int16Array;
  sampleRate: number;
  /** Where the voice really starts and ends in `pcm`, ms. */
  speechStartMs: number;
  speechEndMs: number;
}

export function testOutputDir(name: string): string {
  const dir = path.join(process.env.AIDE_CACHE ?? path.join(os.homedir(), ".cache", "aide"), "test-output", name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Speech padded with `leadMs` of silence before and `tailMs` after, at `sampleRate`. */
export function makeSpeech(text: string, leadMs: number, tailMs: number, sampleRate = 16000): SpeechClip {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aide-speech-"));
  try {
    const raw = path.join(dir, "raw.wav");
    const out = path.join(dir, "out.raw");
    execFileSync("espeak-ng", ["-v", "en-us", "-s", "150", "-w", raw, text]);
    execFileSync("sox", [raw, "-r", String(sampleRate), "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", out, "pad", `${leadMs / 1000}`, `${tailMs / 1000}`]);
    const bytes = fs.readFileSync(out);
    const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const loud = (i: number) => Math.abs(pcm[i]) > 300;
    let first = 0;
    while (first < pcm.length && !loud(first)) first++;
    let last = pcm.length - 1;
    while (last > 0 && !loud(last)) last--;
    return { pcm, sampleRate, speechStartMs: (first * 1000) / sampleRate, speechEndMs: ((last + 1) * 1000) / sampleRate };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes mono PCM16 as a WAV file (Chromium's fake microphone reads these). */
export function writeWav(file: string, pcm: Int16Array, sampleRate: number): void {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + pcm.byteLength, 4);
  header.write("WAVEfmt ", 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36);
  header.writeUInt32LE(pcm.byteLength, 40);
  fs.writeFileSync(file, Buffer.concat([header, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength)]));
}
