// The speech services do one real inference each on an emulated Core 2 Duo: qemu-user's
// core2duo CPU model has no AVX/SSE4.2 and raises SIGILL on them (test/llama proves the
// emulator refuses AVX). sherpa-onnx's native addon and its ONNX Runtime must pick
// kernels this CPU has. The services are bundled with esbuild so the emulated node runs
// plain JS, not ts-node (everything is slow under emulation).
// @needs qemu
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { build, stop as stopEsbuild } from "esbuild";
import { ensureTinySpeechModels, TinySpeechModels } from "../../../scripts/models/tiny-speech";
import { spokenPcm } from "./audio";

const CORE2 = ["qemu-x86_64", "-cpu", "core2duo"];
const work = mkdtempSync(join(tmpdir(), "aide-core2-speech-"));
let models: TinySpeechModels;

beforeAll(async () => {
  models = await ensureTinySpeechModels();
});
afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await stopEsbuild(); // its service process would keep jest from exiting
});

function runEmulated(script: string, timeoutMs: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(CORE2[0], [...CORE2.slice(1), process.execPath, script], {
      env: { ...process.env, NODE_PATH: join(dirname(require.resolve("sherpa-onnx-node/package.json")), "..") },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

describe("on an emulated Core 2 Duo", () => {
  it("the emulated CPU reports neither AVX nor SSE4.2 (so a pass below means something)", () => {
    const c = join(work, "cpuid.c");
    writeFileSync(c, `#include <cpuid.h>
#include <stdio.h>
int main(void) { unsigned a, b, c, d; __get_cpuid(1, &a, &b, &c, &d); printf("sse4.2=%d avx=%d\\n", !!(c & (1 << 20)), !!(c & (1 << 28))); return 0; }`);
    execFileSync("cc", ["-O2", "-o", join(work, "cpuid"), c]);
    expect(execFileSync(CORE2[0], [...CORE2.slice(1), join(work, "cpuid")], { encoding: "utf8" }).trim()).toBe("sse4.2=0 avx=0");
  });

  it(
    "transcribes an utterance (NeMo CTC and Moonshine formats) and speaks a sentence with the real service code",
    async () => {
      const pcmFile = join(work, "speech.pcm");
      writeFileSync(pcmFile, Buffer.from(spokenPcm("What can you see on the table?").buffer));
      const entry = join(work, "entry.ts");
      const src = resolve(__dirname, "../../src/services");
      writeFileSync(
        entry,
        `import { readFileSync } from "node:fs";
import { createSpeechToText } from ${JSON.stringify(join(src, "stt"))};
import { createTextToSpeech } from ${JSON.stringify(join(src, "tts"))};
(async () => {
  const buf = readFileSync(${JSON.stringify(pcmFile)});
  const pcm = new Int16Array(buf.buffer, buf.byteOffset, buf.byteLength / 2);
  const modelDir = ${JSON.stringify(models.dir)};
  const stt = await createSpeechToText({ modelDir, numThreads: 1, validate: false });
  const heard = await stt.transcribe(pcm, 16000);
  const moonshine = await createSpeechToText({ modelDir, name: ${JSON.stringify(models.moonshine.name)}, numThreads: 1, validate: false });
  const heardByMoonshine = await moonshine.transcribe(pcm, 16000);
  const tts = await createTextToSpeech({ voice: "piper", piper: { modelDir, numThreads: 1, validate: false } });
  let chunks = 0, samples = 0, peak = 0;
  for await (const c of tts.synthesize("Hello there.")) { chunks++; samples += c.length; for (const v of c) peak = Math.max(peak, Math.abs(v)); }
  console.log(JSON.stringify({ text: heard.text, moonshine: heardByMoonshine.text, chunks, samples, peak }));
})().catch((e) => { console.error(e); process.exit(1); });
`,
      );
      const bundle = join(work, "speech-core2.js");
      await build({ entryPoints: [entry], bundle: true, platform: "node", target: "node20", outfile: bundle, external: ["sherpa-onnx-node"], logLevel: "error" });

      const r = await runEmulated(bundle, 540_000);
      expect({ signal: r.signal, code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ signal: null, code: 0, stderr: "" });
      const out = JSON.parse(r.stdout.trim().split("\n").pop() as string) as { text: string; moonshine: string; chunks: number; samples: number; peak: number };
      expect(out.text).toBe(models.phrase);
      expect(out.moonshine).toBe(models.phrase);
      expect(out.chunks).toBeGreaterThan(5);
      expect(out.samples).toBeGreaterThan(24000 * 0.3);
      expect(out.peak).toBeGreaterThan(3000);
    },
    600_000,
  );
});
