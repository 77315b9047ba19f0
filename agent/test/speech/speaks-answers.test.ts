import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTextToSpeech, TextToSpeech, MAX_CHUNK_MS } from "../../src/services/tts";
import { ensureTinySpeechModels, TinySpeechModels } from "../../../scripts/models/tiny-speech";
import { ModelError } from "../../src/models/manifest";
import { peakOf } from "./audio";
import { concatPcm as joined } from "../../src/pipeline";

async function collect(it: AsyncIterable<Int16Array>): Promise<Int16Array[]> {
  const out: Int16Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}

let models: TinySpeechModels;
let piper: TextToSpeech;
let espeak: TextToSpeech;
const emptyDir = mkdtempSync(join(tmpdir(), "aide-no-models-"));

beforeAll(async () => {
  models = await ensureTinySpeechModels();
  piper = await createTextToSpeech({ voice: "piper", piper: { modelDir: models.dir, numThreads: 1 } });
  espeak = await createTextToSpeech({ voice: "espeak" });
});
afterAll(() => rmSync(emptyDir, { recursive: true, force: true }));

describe.each([
  ["the Piper voice (sherpa-onnx)", () => piper],
  ["the espeak-ng voice", () => espeak],
])("%s", (_name, voice) => {
  it("speaks a sentence as 24 kHz chunks of at most 40 ms", async () => {
    const tts = voice();
    expect(tts.sampleRate).toBe(24000);
    const chunks = await collect(tts.synthesize("Hello there, I can see a cup on the table."));
    const max = (24000 * MAX_CHUNK_MS) / 1000;
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBe(max);
    expect(chunks[chunks.length - 1].length).toBeLessThanOrEqual(max);
    const audio = joined(chunks);
    expect(audio.length / 24000).toBeGreaterThan(0.8); // a dozen words take about a second or more
    expect(audio.length / 24000).toBeLessThan(8);
    expect(peakOf(audio)).toBeGreaterThan(3000); // audible, not silence
  });

  it("says nothing for text with nothing speakable in it", async () => {
    expect(await collect(voice().synthesize("🎉👍 ```\nconst x = 1;\n``` **  **"))).toEqual([]);
    expect(await collect(voice().synthesize(""))).toEqual([]);
  });

  it("stops within one chunk when interrupted", async () => {
    const ac = new AbortController();
    const got: Int16Array[] = [];
    const started = Date.now();
    for await (const c of voice().synthesize("This is a long answer. It has several sentences. It would take many seconds to say all of it out loud.", ac.signal)) {
      got.push(c);
      if (got.length === 3) ac.abort();
    }
    expect(got.length).toBe(3);
    expect(Date.now() - started).toBeLessThan(5000);
    // The voice is free again at once.
    expect((await collect(voice().synthesize("Yes."))).length).toBeGreaterThan(0);
  });

  it("serves the next request at once after the listener walks away without aborting", async () => {
    const started = Date.now();
    for await (const _ of voice().synthesize("One. Two. Three. Four. Five. Six. Seven. Eight. Nine. Ten. Eleven. Twelve. Thirteen. Fourteen.")) break;
    // The next request is not stuck behind the abandoned one.
    expect((await collect(voice().synthesize("Next."))).length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("output rate", () => {
  it.each([16000, 22050, 48000])("speaks at %i Hz when the transport asks for it, still in chunks of at most 40 ms", async (rate) => {
    const tts = await createTextToSpeech({ voice: "piper", piper: { modelDir: models.dir, numThreads: 1 }, sampleRate: rate, chunkMs: 20 });
    expect(tts.sampleRate).toBe(rate);
    const chunks = await collect(tts.synthesize("Testing the output rate."));
    for (const c of chunks.slice(0, -1)) expect(c.length).toBe(Math.floor(rate * 0.02));
    // Same speech, same duration, whatever the rate.
    const seconds = joined(chunks).length / rate;
    const reference = joined(await collect(piper.synthesize("Testing the output rate."))).length / 24000;
    expect(Math.abs(seconds - reference)).toBeLessThan(0.03);
  });
});

describe("text cleaning before speech", () => {
  it("speaks markdown, emoji and links exactly like the plain words", async () => {
    // The generated Piper voice is deterministic: same phonemes → same samples.
    const plain = joined(await collect(piper.synthesize("Hello world, see github.com now.")));
    const fancy = joined(await collect(piper.synthesize("**Hello** world 👋, see [github.com](https://github.com/x/y) now.")));
    expect(fancy).toEqual(plain);
    const url = joined(await collect(piper.synthesize("Hello world, see https://www.github.com/k2-fsa now.")));
    expect(url).toEqual(plain);
  });
});

describe("choosing a voice", () => {
  it("uses espeak-ng when no Piper voice is downloaded, and says why", async () => {
    const reasons: string[] = [];
    const tts = await createTextToSpeech({ piper: { modelDir: emptyDir }, onFallback: (r) => reasons.push(r) });
    expect(tts.name).toMatch(/espeak-ng/);
    expect(reasons[0]).toMatch(/npm run models -- download/);
    expect((await collect(tts.synthesize("Okay."))).length).toBeGreaterThan(0);
  });

  it("fails with the fixing command when the Piper voice is required but missing", async () => {
    await expect(createTextToSpeech({ voice: "piper", piper: { modelDir: emptyDir } })).rejects.toThrow(ModelError);
    await expect(createTextToSpeech({ voice: "piper", piper: { modelDir: emptyDir } })).rejects.toThrow(/no manifest.json — run: npm run models -- download --dir/);
  });

  it("names a missing espeak-ng binary and how to install it", async () => {
    const tts = await createTextToSpeech({ voice: "espeak", espeak: { binary: "/nonexistent/espeak-ng" } });
    await expect(collect(tts.synthesize("Hello."))).rejects.toThrow(/espeak-ng not found .*apt-get install espeak-ng/);
  });

  it("speaks text that looks like shell or espeak-ng options as words, running nothing", async () => {
    const marker = join(emptyDir, "pwned");
    const hostile = `$(touch ${marker}) \`touch ${marker}\`; touch ${marker} --help -w ${marker} -v de 'quoted' "double"`;
    const audio = joined(await collect(espeak.synthesize(hostile)));
    expect(audio.length / 24000).toBeGreaterThan(1);
    expect(existsSync(marker)).toBe(false);
  });

  it("kills espeak-ng when the listener walks away mid-clause", async () => {
    // A stand-in binary that starts a WAV, keeps the clause going for a minute, and
    // records its pid: the process must be gone once iteration stops.
    const pidFile = join(emptyDir, "espeak.pid");
    const slow = join(emptyDir, "slow-espeak");
    writeFileSync(
      slow,
      `#!${process.execPath}
require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
const header = Buffer.alloc(44); header.write("RIFF", 0); header.write("WAVEfmt ", 8); header.write("data", 36);
process.stdout.write(header);
const timer = setInterval(() => process.stdout.write(Buffer.alloc(4410)), 100); // real time, for a minute
setTimeout(() => clearInterval(timer), 60000);
`,
    );
    chmodSync(slow, 0o755);
    const tts = await createTextToSpeech({ voice: "espeak", espeak: { binary: slow } });
    for await (const _ of tts.synthesize("A clause that would take a minute.")) break;
    const pid = Number(readFileSync(pidFile, "utf8"));
    await new Promise((r) => setTimeout(r, 200));
    try {
      expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    } finally {
      try {
        process.kill(pid, "SIGKILL"); // only if the check above failed: never leave it running
      } catch {
        // already gone
      }
    }
  });

  it("refuses voice names and speeds that are not real settings", async () => {
    await expect(createTextToSpeech({ voice: "espeak", espeak: { voice: "en; rm -rf /" } })).rejects.toThrow(/not a voice name/);
    await expect(createTextToSpeech({ voice: "espeak", espeak: { wordsPerMinute: 5 } })).rejects.toThrow(/80–450/);
    await expect(createTextToSpeech({ voice: "espeak", chunkMs: 100 })).rejects.toThrow(/chunkMs/);
  });
});
