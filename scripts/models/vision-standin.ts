// What the vision detector works on when no real model or camera is here: a generated
// model with YOLOv8n's cost, and a webcam-like video. Written once into the cache.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { aideCache } from "../../lib/cache";
import { demoScene, writeYoloModel } from "./onnx/yolo";

/** YOLOv8n's published cost: 8.7 GFLOPs at 640x640, scaling with the pixel count. */
export const YOLOV8N_GFLOPS_AT_640 = 8.7;

/** A generated model with YOLOv8n's convolution cost at `size`, with planted boxes. */
export function ensureYoloCostModel(size: number): { path: string; gflops: number } {
  const gflops = YOLOV8N_GFLOPS_AT_640 * (size / 640) ** 2;
  const path = aideCache("models", "generated", `yolov8-planted-demo-${size}-${gflops.toFixed(2)}gflops.onnx`);
  if (!existsSync(path)) writeYoloModel(path, demoScene(size, gflops));
  return { path, gflops };
}

/** 20 s of ffmpeg's test pattern, 640x480 MJPEG at 10 fps: what a webcam delivers. */
export function ensureWebcamVideo(): string {
  const path = aideCache("bench", "vision-testsrc-640x480-10fps-20s.avi");
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=10:duration=20", "-c:v", "mjpeg", "-q:v", "4", path]);
  }
  return path;
}
