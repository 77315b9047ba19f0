// Frames the vision tests draw: PPM images (no encoder needed, lossless) and videos
// ffmpeg encodes from them.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export type Rgb = [number, number, number];

export function writePpm(path: string, width: number, height: number, pixel: (x: number, y: number) => Rgb): string {
  const header = Buffer.from(`P6\n${width} ${height}\n255\n`, "ascii");
  const body = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) body.set(pixel(x, y), (y * width + x) * 3);
  }
  writeFileSync(path, Buffer.concat([header, body]));
  return path;
}

/** A 640x480 frame whose left and right halves are white (on) or black (off). */
export function halves(left: boolean, right: boolean): (x: number, y: number) => Rgb {
  return (x) => ((x < 320 ? left : right) ? [255, 255, 255] : [0, 0, 0]);
}

/** Writes frames 0000.ppm... into `dir` and returns the paths. */
export function drawFrames(dir: string, frames: Array<(x: number, y: number) => Rgb>, width = 640, height = 480): string[] {
  mkdirSync(dir, { recursive: true });
  return frames.map((pixel, i) => writePpm(join(dir, `${String(i).padStart(4, "0")}.ppm`), width, height, pixel));
}

/** Encodes drawn frames into a video ffmpeg can read back (MJPEG in AVI by default). */
export function encodeVideo(framesDir: string, out: string, codec: string[] = ["-c:v", "mjpeg", "-q:v", "3"], fps = 10): string {
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-framerate", String(fps), "-i", join(framesDir, "%04d.ppm"), ...codec, out], {
    timeout: 60000,
  });
  return out;
}
