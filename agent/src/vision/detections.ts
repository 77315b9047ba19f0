// Turns a YOLOv8 detection head's output into a few named boxes: the best class per
// anchor, a confidence threshold, then non-maximum suppression within each class
// (a cup overlapping a person is two objects; two boxes on one cup are one).
import { COCO_CLASS_NAMES } from "./coco";

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Detection {
  classId: number;
  name: string;
  score: number;
  /** Corners in the model's input pixels (the letterboxed frame). */
  box: Box;
}

export interface DecodeOptions {
  /** Lowest class score kept; Ultralytics predicts with 0.25. */
  confidence: number;
  /** Overlap above which the weaker of two same-class boxes is dropped; Ultralytics uses 0.7, 0.45 is the classic. */
  iou: number;
  /** Cap on boxes per frame after NMS. */
  maxDetections: number;
}

export const DEFAULT_DECODE: DecodeOptions = { confidence: 0.25, iou: 0.45, maxDetections: 100 };

/**
 * `output` is the `[1, 4 + classes, anchors]` tensor: rows cx, cy, w, h, then one
 * score per class, each row `anchors` long.
 */
export function decodeYoloOutput(output: Float32Array, dims: readonly number[], options: DecodeOptions = DEFAULT_DECODE): Detection[] {
  if (dims.length !== 3 || dims[0] !== 1 || dims[1] !== 4 + COCO_CLASS_NAMES.length) {
    throw new Error(`YOLOv8 output has shape [${dims.join(", ")}]; expected [1, 84, anchors]`);
  }
  const anchors = dims[2];
  const classes = dims[1] - 4;
  const candidates: Array<Detection & { anchor: number }> = [];
  for (let a = 0; a < anchors; a++) {
    let best = -1;
    let bestScore = -Infinity;
    for (let c = 0; c < classes; c++) {
      const s = output[(4 + c) * anchors + a];
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
    // NaN scores (a broken model or frame) fail this comparison and are skipped.
    if (!(bestScore >= options.confidence)) continue;
    const cx = output[a];
    const cy = output[anchors + a];
    const w = output[2 * anchors + a];
    const h = output[3 * anchors + a];
    if (!(w > 0 && h > 0)) continue;
    candidates.push({
      anchor: a,
      classId: best,
      name: COCO_CLASS_NAMES[best],
      score: bestScore,
      box: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 },
    });
  }
  // Highest score first; the anchor index breaks ties so the result never depends on sort stability.
  candidates.sort((p, q) => q.score - p.score || p.anchor - q.anchor);
  const kept: Detection[] = [];
  for (const cand of candidates) {
    if (kept.length >= options.maxDetections) break;
    const overlaps = kept.some((k) => k.classId === cand.classId && iou(k.box, cand.box) > options.iou);
    if (!overlaps) kept.push({ classId: cand.classId, name: cand.name, score: cand.score, box: cand.box });
  }
  return kept;
}

/** Anchors of a YOLOv8 head at input side S: one per cell of the stride 8, 16 and 32 grids. */
export function yoloAnchorCount(size: number): number {
  return [8, 16, 32].reduce((n, stride) => n + (size / stride) ** 2, 0);
}

export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}
