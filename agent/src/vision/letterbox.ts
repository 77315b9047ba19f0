// Letterboxing: fit the frame inside the model's S x S input keeping its aspect ratio,
// centred on YOLO's grey (114), as Ultralytics trains and predicts. ffmpeg does the
// scale and pad while it decodes (one pass over the pixels, in C); this file turns the
// resulting RGB bytes into the CHW floats the model takes.

/** Ultralytics' letterbox fill, 114/255 once normalised. */
export const LETTERBOX_GREY = 114;

/** The ffmpeg `-vf` chain from any frame to S x S RGB, letterboxed. */
export function letterboxFilter(size: number): string {
  // Scale in RGB before padding, so the grey border is exactly 114 (padding in YUV rounds it).
  return [
    `scale=w=${size}:h=${size}:force_original_aspect_ratio=decrease`,
    "format=rgb24",
    `pad=w=${size}:h=${size}:x=(ow-iw)/2:y=(oh-ih)/2:color=0x727272`,
  ].join(",");
}

/** Interleaved RGB bytes (HWC) to planar floats 0..1 (CHW), reusing `out` when given. */
export function rgbToChw(rgb: Uint8Array, size: number, out = new Float32Array(3 * size * size)): Float32Array {
  const plane = size * size;
  if (rgb.length !== 3 * plane) throw new Error(`frame has ${rgb.length} bytes; expected ${size}x${size} RGB (${3 * plane})`);
  for (let i = 0, p = 0; p < plane; p++, i += 3) {
    out[p] = rgb[i] / 255;
    out[plane + p] = rgb[i + 1] / 255;
    out[2 * plane + p] = rgb[i + 2] / 255;
  }
  return out;
}
