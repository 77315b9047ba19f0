// espeak-ng: the zero-download voice that always works (Debian package espeak-ng).
// One short-lived process per clause, text on stdin (never through a shell), WAV read
// from stdout as it is produced so the first chunk is out before the clause is done.
import { spawn } from "node:child_process";
import { Channel } from "./channel";
import { VoiceEngine } from "./voice";

export interface EspeakOptions {
  /** espeak-ng voice (default "en-us"); see `espeak-ng --voices`. */
  voice?: string;
  /** Words per minute (default 175). */
  wordsPerMinute?: number;
  /** espeak-ng binary (default "espeak-ng" on PATH). */
  binary?: string;
}

/** espeak-ng writes a streaming WAV: 44-byte header, then PCM16 mono at 22050 Hz. */
const ESPEAK_RATE = 22050;

export class EspeakVoice implements VoiceEngine {
  readonly name: string;
  readonly nativeRate = ESPEAK_RATE;
  private readonly args: string[];
  private readonly binary: string;

  constructor(options: EspeakOptions = {}) {
    const voice = options.voice ?? "en-us";
    if (!/^[\w+-]+$/.test(voice)) throw new Error(`espeak-ng voice "${voice}" is not a voice name (e.g. en-us, en-gb, de)`);
    const wpm = options.wordsPerMinute ?? 175;
    if (!(Number.isInteger(wpm) && wpm >= 80 && wpm <= 450)) throw new Error(`espeak-ng speed ${wpm} words/minute: use 80–450`);
    this.binary = options.binary ?? "espeak-ng";
    this.args = ["-v", voice, "-s", String(wpm), "--stdout"];
    this.name = `espeak-ng ${voice}`;
  }

  speak(text: string, signal?: AbortSignal): AsyncIterable<Int16Array> {
    const child = spawn(this.binary, this.args, { stdio: ["pipe", "pipe", "pipe"] });
    const out = new Channel<Int16Array>(() => child.kill("SIGKILL"));
    let header = Buffer.alloc(0);
    let headerDone = false;
    let odd: Buffer | undefined; // a byte left over from an odd-length read
    let stderr = "";
    const onAbort = () => child.kill("SIGKILL");
    signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout.on("data", (data: Buffer) => {
      let d = data;
      if (!headerDone) {
        header = Buffer.concat([header, d]);
        const at = header.indexOf("data");
        if (at < 0 || header.length < at + 8) return;
        headerDone = true;
        d = header.subarray(at + 8);
      }
      if (odd) {
        d = Buffer.concat([odd, d]);
        odd = undefined;
      }
      if (d.length % 2) {
        odd = d.subarray(d.length - 1);
        d = d.subarray(0, d.length - 1);
      }
      if (d.length) out.push(new Int16Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.length)));
    });
    child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-500)));
    child.on("error", (e: NodeJS.ErrnoException) => {
      signal?.removeEventListener("abort", onAbort);
      out.close(
        new Error(
          e.code === "ENOENT"
            ? `espeak-ng not found (${this.binary}) — install it: apt-get install espeak-ng`
            : `espeak-ng failed to start: ${e.message}`,
        ),
      );
    });
    child.on("close", (code, sig) => {
      signal?.removeEventListener("abort", onAbort);
      if (code === 0 || signal?.aborted) out.close();
      else out.close(new Error(`espeak-ng ${sig ? `was killed by ${sig}` : `exited with ${code}`}: ${stderr.trim() || "no message"}`));
    });
    child.stdin.on("error", () => undefined); // it may exit before reading everything (abort)
    child.stdin.end(text.replace(/\s+/g, " ") + "\n");
    return out;
  }
}
