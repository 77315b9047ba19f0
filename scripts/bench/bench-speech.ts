// npm run bench:speech [-- --dir DIR] [--runs N] [--threads N]
//
// Speed of the speech services with whatever models are present: the generated ones
// (always), real ones in the model directory (after `npm run models -- download`), and
// espeak-ng. Prints, per model:
//   STT real-time factor   = processing time / audio duration (espeak-ng speech, 16 kHz)
//   TTS real-time factor   = synthesis time / audio duration
//   TTS time to first chunk for a 20-word answer, split by firstClauseSplitter as the
//   pipeline does (the first clause is synthesized first).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { defaultModelDir, readManifest } from "../../agent/src/models/manifest";
import { createSpeechToText, SpeechToText } from "../../agent/src/services/stt";
import { createTextToSpeech, firstClauseSplitter, TextToSpeech } from "../../agent/src/services/tts";
import { ensureTinySpeechModels } from "../models/tiny-speech";

const ANSWER = "Sure, I can see a red cup and a laptop on the desk, and someone is sitting near the window.";
const UTTERANCES = ["What can you see on the table right now?", "Please tell me the weather for tomorrow morning in Berlin.", "Turn off the lights in the kitchen."];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function spoken(text: string): Int16Array {
  const dir = mkdtempSync(join(tmpdir(), "aide-bench-"));
  try {
    execFileSync("espeak-ng", ["-v", "en-us", "-w", join(dir, "a.wav"), "--", text]);
    execFileSync("sox", [join(dir, "a.wav"), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", join(dir, "a.raw")]);
    const b = readFileSync(join(dir, "a.raw"));
    return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchStt(label: string, stt: SpeechToText, audio: Int16Array[], runs: number): Promise<string> {
  await stt.transcribe(audio[0], 16000); // warm-up: first run pays for allocations
  let busy = 0;
  let seconds = 0;
  let sample = "";
  for (let r = 0; r < runs; r++) {
    for (const pcm of audio) {
      const t0 = performance.now();
      const t = await stt.transcribe(pcm, 16000);
      busy += performance.now() - t0;
      seconds += pcm.length / 16000;
      sample ||= t.text;
    }
  }
  return `STT  ${label.padEnd(40)} RTF ${(busy / 1000 / seconds).toFixed(4)}  (${seconds.toFixed(1)} s of speech, ${(busy / (runs * audio.length)).toFixed(1)} ms per utterance; heard: "${sample.slice(0, 40)}")`;
}

async function benchTts(label: string, tts: TextToSpeech, runs: number): Promise<string> {
  for await (const _ of tts.synthesize("Warm up.")); // first run loads espeak data / allocates
  let firstChunk = 0;
  let busy = 0;
  let seconds = 0;
  for (let r = 0; r < runs; r++) {
    const split = firstClauseSplitter();
    const clauses = [...split.push(ANSWER), ...split.flush()];
    const t0 = performance.now();
    let first = 0;
    let samples = 0;
    for (const clause of clauses) {
      for await (const chunk of tts.synthesize(clause)) {
        if (!first) first = performance.now() - t0;
        samples += chunk.length;
      }
    }
    busy += performance.now() - t0;
    firstChunk += first;
    seconds += samples / tts.sampleRate;
  }
  const words = ANSWER.split(/\s+/).length;
  return `TTS  ${label.padEnd(40)} RTF ${(busy / 1000 / seconds).toFixed(4)}  first chunk ${(firstChunk / runs).toFixed(1)} ms for a ${words}-word answer (${(seconds / runs).toFixed(2)} s of audio at ${tts.sampleRate} Hz)`;
}

async function main(): Promise<void> {
  const runs = Number(arg("runs", "3"));
  const threads = Number(arg("threads", "2"));
  const dir = arg("dir", defaultModelDir());
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`bench:speech on ${cpu} (${cpus().length} cores), ${threads} thread(s), ${runs} run(s)`);
  const audio = UTTERANCES.map(spoken);
  const lines: string[] = [];

  const everyModelIn = async (modelDir: string, prefix: string) => {
    for (const m of readManifest(modelDir).models) {
      try {
        if (m.role === "stt") lines.push(await benchStt(prefix + m.name, await createSpeechToText({ modelDir, name: m.name, numThreads: threads }), audio, runs));
        if (m.role === "tts") lines.push(await benchTts(prefix + m.name, await createTextToSpeech({ voice: "piper", piper: { modelDir, name: m.name, numThreads: threads } }), runs));
      } catch (e) {
        lines.push(`skip ${m.role} ${m.name}: ${(e as Error).message}`);
      }
    }
  };

  await everyModelIn((await ensureTinySpeechModels()).dir, "generated ");
  lines.push(await benchTts("espeak-ng en-us", await createTextToSpeech({ voice: "espeak" }), runs));
  if (existsSync(join(dir, "manifest.json"))) {
    await everyModelIn(dir, "");
  } else {
    lines.push(`(no downloaded models in ${dir}: run npm run models -- download to bench real ones)`);
  }
  for (const l of lines) console.log(l);
}

main().catch((e) => {
  console.error(`bench:speech: ${(e as Error).message}`);
  process.exit(1);
});
