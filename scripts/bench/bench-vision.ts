// npm run bench:vision [-- --model PATH] [--input-size 320] [--seconds 15]
//
// Figures for the detector on this machine, for the model present: preprocessing
// (ffmpeg's decode + letterbox CPU, and the RGB -> CHW float conversion) and inference
// per frame, then the frame rate the detector achieves within the default CPU share.
// Without a real YOLOv8 model in the model directory it uses a generated one whose
// convolutions cost about what YOLOv8n's do at that size, and says so.
import { ensureWebcamVideo, ensureYoloCostModel } from "../models/vision-standin";
import { defaultModelDir, findBundle } from "../../agent/src/models/manifest";
import { procCpuSeconds } from "../../agent/src/vision/cpu-budget";
import { Detector } from "../../agent/src/vision/detector";
import { openSource } from "../../agent/src/vision/frame-source";
import { rgbToChw } from "../../agent/src/vision/letterbox";
import { loadYoloModel } from "../../agent/src/vision/yolo-model";


function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function pickModel(size: number): { path: string; label: string } {
  const given = flag("--model", "");
  if (given) return { path: given, label: given };
  try {
    const bundle = findBundle(defaultModelDir(), "yolo");
    return { path: bundle.files.model, label: `${bundle.name} (${bundle.files.model})` };
  } catch {
    const { path, gflops } = ensureYoloCostModel(size);
    return { path, label: `generated stand-in, ${gflops.toFixed(1)} GFLOPs of convolutions like YOLOv8n at ${size} (no real model in ${defaultModelDir()})` };
  }
}


const fmt = (x: number, digits = 1) => x.toFixed(digits);

async function main(): Promise<void> {
  const size = Number(flag("--input-size", "320"));
  const seconds = Number(flag("--seconds", "15"));
  const { path: modelPath, label } = pickModel(size);
  const video = ensureWebcamVideo();
  console.log(`vision bench: model ${label}`);
  console.log(`vision bench: source ${video} (640x480 MJPEG, like a webcam)`);

  // 1. Preprocessing: ffmpeg decode + letterbox (its CPU from /proc), then CHW conversion.
  const model = await loadYoloModel(modelPath, { inputSize: size, threads: 1 });
  const S = model.inputSize;
  const source = openSource({ kind: "video", path: video }, { size: S, captureFps: 10, ffmpeg: "ffmpeg" });
  const chw = new Float32Array(3 * S * S);
  let frames = 0;
  let ffmpegCpu = 0;
  let convertMs = 0;
  const pid = source.workerPids()[0];
  for (let frame = await source.next(); frame && frames < 100; frame = await source.next()) {
    const t = performance.now();
    rgbToChw(frame.rgb, S, chw);
    convertMs += performance.now() - t;
    frames++;
    ffmpegCpu = procCpuSeconds(pid) || ffmpegCpu;
  }
  source.close();

  // 2. Inference, after one warm-up run.
  await model.run(chw);
  const runs = 20;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await model.run(chw);
  const inferMs = (performance.now() - t0) / runs;
  const inferCpu = process.cpuUsage(cpu0);
  await model.close();

  // 3. The detector as it runs for real, default CPU share, on the looped video.
  const results: Array<{ name: string; fps: number; share: number; target: number }> = [];
  for (const [name, maxFps] of [["default settings (max 5 fps)", 5], ["budget only (max 30 fps)", 30]] as const) {
    const detector = new Detector({ source: { kind: "video", path: video, loop: true }, model: modelPath, inputSize: size, maxFps, log: () => undefined });
    await detector.start();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const h = detector.health();
    await detector.stop();
    results.push({ name, fps: h.fps, share: h.cpuShare, target: h.targetFps });
  }

  console.log("");
  console.log(`input size                          ${S}x${S}`);
  console.log(`preprocess: ffmpeg decode+letterbox ${fmt((ffmpegCpu / frames) * 1000, 2)} ms CPU/frame (${frames} frames)`);
  console.log(`preprocess: RGB -> CHW float        ${fmt(convertMs / frames, 2)} ms/frame`);
  console.log(`inference (1 thread)                ${fmt(inferMs, 1)} ms/frame wall, ${fmt((inferCpu.user + inferCpu.system) / 1000 / runs, 1)} ms CPU/frame`);
  for (const r of results) {
    console.log(`detector at 50% of a core, ${r.name.padEnd(28)} ${fmt(r.fps, 2)} frames/s achieved, ${fmt(r.share * 100, 0)}% of a core used (budget allows ${fmt(r.target, 1)} frames/s)`);
  }
}

main().catch((err: Error) => {
  console.error(`bench:vision: ${err.message}`);
  process.exit(1);
});
