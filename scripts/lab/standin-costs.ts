// What each stand-in model costs on one emulated node, beside the real model's published
// CPU figure where one exists, so a reader can see the stand-ins are honest. The probe
// runs as a child inside the node's CPU budget (so everything it starts is held to it);
// bench:cluster prints its lines.
//
//   (child) node -r ts-node/register/transpile-only scripts/lab/standin-costs.ts LLM.gguf EMBED.gguf YOLO.onnx
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { loadYoloModel } from "../../agent/src/vision/yolo-model";
import { llamaBinary } from "../../lib/llama";
import { MOONSHINE_TINY_PUBLISHED_CPU } from "../models/onnx/moonshine-cost";
import { PIPER_MEDIUM_PUBLISHED_RTF } from "../models/onnx/piper-cost";
import { standInRealTimeFactor } from "../models/standin-speech";
import { measureVoiceRtf } from "../models/standin-voice";
import type { LabCluster, LabNode } from "./cluster";
import type { LabModels } from "./placements";

const run = promisify(execFile);

/** YOLOv8n at 640: 80.4 ms per image, ONNX on CPU (Ultralytics' YOLOv8 detection table, "Speed CPU ONNX", Amazon EC2 P4d). */
const YOLOV8N_PUBLISHED = { ms: 80.4, where: "ONNX Runtime on an Amazon EC2 P4d's CPU (Ultralytics' YOLOv8 detection table)" };

/** The ONNX stand-ins cannot be held to a Core 2's instructions the way llama.cpp's core2
 * build is: ONNX Runtime picks its kernels from CPUID at run time. */
export const ORT_ISA_CAVEAT =
  "STT, TTS and vision run ONNX Runtime, which picks this CPU's AVX2/AVX-512 kernels at run time where a Core 2 gets SSE ones, " +
  "so their figures here are optimistic: for GEMM-bound work llama.cpp's own builds differ by 3x (generation) to 8x (prompt) between core2 and native on this kind of machine (npm run bench:llm)";

async function llamaBench(model: string, args: string[]): Promise<{ pp?: number; tg?: number }> {
  const { stdout } = await run(llamaBinary("llama-bench", "core2"), ["-m", model, ...args, "-r", "1", "-o", "json"], { maxBuffer: 16 << 20, timeout: 10 * 60_000 });
  const rows = JSON.parse(stdout.slice(stdout.indexOf("["))) as { avg_ts: number; n_prompt: number; n_gen: number }[];
  return { pp: rows.find((r) => r.n_prompt > 0)?.avg_ts, tg: rows.find((r) => r.n_gen > 0)?.avg_ts };
}

async function probe(llm: string, embed: string, yolo: string): Promise<string[]> {
  const lines: string[] = [];
  const q = await llamaBench(llm, ["-p", "32", "-n", "8", "-t", "2"]);
  lines.push(`  LLM, Qwen2.5-1.5B-Instruct stand-in (qwen2, Q4_0 by llama-quantize, real Qwen2 vocab), core2 build, 2 threads: prompt ${q.pp?.toFixed(2)} tok/s, generation ${q.tg?.toFixed(2)} tok/s — no published Core 2 figure for this model; the calibration anchors the CPU`);
  const e = await llamaBench(embed, ["-p", "16", "-n", "0", "-t", "1"]);
  lines.push(`  embeddings, all-MiniLM-L6-v2 stand-in (bert, 6×384), 1 thread: ${e.pp ? ((16 / e.pp) * 1000).toFixed(0) : "n/a"} ms for a 16-token text (${e.pp?.toFixed(0)} tok/s) — no published CPU figure found`);
  const m = MOONSHINE_TINY_PUBLISHED_CPU;
  const stt = await standInRealTimeFactor(4, 2);
  lines.push(`  STT, moonshine-tiny-cost stand-in, 1 thread: real-time factor ${stt.rtf.toFixed(3)} (${stt.msPerRun.toFixed(0)} ms for 4 s of speech) — published: moonshine-tiny RTF ${m.rtf} on ${m.cpu} (${m.runtime}, ${m.source})`);
  const tts = await measureVoiceRtf({ threads: 1 });
  lines.push(`  TTS, Piper-medium-cost stand-in voice, 1 thread: real-time factor ${tts.rtf.toFixed(3)} (${tts.seconds.toFixed(2)} s for ${tts.audioSeconds.toFixed(2)} s of audio) — published: ${PIPER_MEDIUM_PUBLISHED_RTF.map((p: { rtf: number; cpu: string }) => `Piper medium RTF ${p.rtf} on ${p.cpu}`).join("; ")}`);
  const model = await loadYoloModel(yolo, { inputSize: 640, threads: 1 });
  const chw = new Float32Array(3 * model.inputSize * model.inputSize).fill(0.5);
  await model.run(chw);
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await model.run(chw);
  const ms = (performance.now() - t0) / 3;
  await model.close();
  lines.push(`  vision, YOLOv8n-cost stand-in at ${model.inputSize}, 1 thread: ${ms.toFixed(0)} ms per frame — published: YOLOv8n ${YOLOV8N_PUBLISHED.ms} ms on ${YOLOV8N_PUBLISHED.where}`);
  lines.push(`  caveat: ${ORT_ISA_CAVEAT}`);
  return lines;
}

/** Runs the probe inside `node`'s budget and returns its lines. */
export async function standInCosts(o: { lab: LabCluster; node: LabNode; models: LabModels; tsNode: string }): Promise<string[]> {
  const proc = o.lab.spawn(o.node, [process.execPath, "-r", o.tsNode, __filename, o.models.llm, o.models.embeddings, o.models.yolo]);
  const code = await proc.exited;
  const out = proc.log().split("\n").filter((l) => l.startsWith("  "));
  if (code !== 0) return [`stand-in costs: the probe failed (${code}): ${proc.log().slice(-800)}`];
  return [`stand-in costs on one emulated node (${o.node.budget.toFixed(3)} cores here), ${"Core 2-equivalent (emulated)"}:`, ...out];
}

if (require.main === module) {
  const [llm, embed, yolo] = process.argv.slice(2);
  probe(llm, embed, yolo).then(
    (lines) => { process.stdout.write(`${lines.join("\n")}\n`); process.exit(0); },
    (error) => { process.stderr.write(`stand-in probe: ${(error as Error).message}\n`); process.exit(1); },
  );
}
