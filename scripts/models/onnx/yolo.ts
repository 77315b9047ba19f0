// Generates YOLOv8-shaped detection models (input `images` [1,3,S,S], output `output0`
// [1,84,anchors]) whose output holds boxes and classes the caller plants, so decoding,
// NMS, naming and the observation text are tested exactly through real ONNX Runtime
// inference. No weights can be downloaded here, and random ones would detect nothing
// a test could name.
//
// Each planted object sits in its own anchor column. An object may be gated by the
// input: it is present only while the mean brightness of an input region is above a
// level, so a test changes the scene by drawing frames (a white square = a person).
// `workloadGflops` adds a stack of real convolutions over the input whose result is
// scaled to nothing, so a model costs about as much CPU as a real one of that size.
//
//   npx ts-node --transpile-only scripts/models/onnx/yolo.ts out.onnx [size]
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { OnnxGraph } from "./graph";
import { classIdOf } from "../../../agent/src/vision/coco";
import { yoloAnchorCount } from "../../../agent/src/vision/detections";

const CLASSES = 80;
const CHANNELS = 4 + CLASSES;

export interface PlantedObject {
  /** A COCO class name ("person", "cup"). */
  name: string;
  /** Centre x, centre y, width, height in input pixels, as YOLOv8 writes them. */
  box: [number, number, number, number];
  /** The class score (YOLOv8's output is already sigmoid-ed, 0..1). */
  score: number;
  /** Present only while the mean of this input region ([x0, y0, x1, y1) pixels, all three channels, 0..1) exceeds `above`. */
  when?: { region: [number, number, number, number]; above: number };
}

export interface YoloModelSpec {
  /** Input side S; a multiple of 32 like YOLOv8's strides need. */
  size: number;
  objects: PlantedObject[];
  /** Extra convolution work per inference, in GFLOPs (YOLOv8n: ~8.7 at 640, ~2.2 at 320). */
  workloadGflops?: number;
  /** Declare symbolic dims like `yolo export dynamic=True` (["batch", 3, "height", "width"]); it still only answers at `size`. */
  dynamic?: boolean;
}

/** The anchor column object k is written into: spread over the head, always distinct. */
export function plantedAnchor(k: number, size: number): number {
  return (k * 97 + 13) % yoloAnchorCount(size);
}

export function buildYoloModel(spec: YoloModelSpec): Uint8Array {
  const S = spec.size;
  if (!Number.isInteger(S) || S < 32 || S % 32 !== 0) throw new Error(`YOLO test model: size ${S} must be a positive multiple of 32`);
  const N = yoloAnchorCount(S);
  if (spec.objects.length > N) throw new Error(`YOLO test model: ${spec.objects.length} objects do not fit in ${N} anchors`);

  const g = new OnnxGraph("yolov8-planted");
  g.input("images", "float", spec.dynamic ? ["batch", 3, "height", "width"] : [1, 3, S, S]);

  // One gate per object: 1 while it is present, else 0. Ungated objects are gated on
  // "mean brightness above -1", which always holds but still reads the input.
  const objects = spec.objects.length > 0 ? spec.objects : [null];
  const gates = objects.map((o) => {
    let mean: string;
    if (o?.when) {
      const [x0, y0, x1, y1] = o.when.region;
      const region = g.node("Slice", ["images", g.int64s([0, 0, y0, x0]), g.int64s([1, 3, y1, x1])]);
      mean = g.node("ReduceMean", [region], { keepdims: 0 });
    } else {
      mean = g.node("ReduceMean", ["images"], { keepdims: 0 });
    }
    const above = g.node("Greater", [mean, g.scalar(o?.when ? o.when.above : -1)]);
    const gate = g.node("Cast", [above], { to: 1 /* FLOAT */ });
    return g.node("Reshape", [gate, g.int64s([1, 1])]);
  });
  let gateRow = gates.length === 1 ? gates[0] : g.node("Concat", gates, { axis: 1 });

  if (spec.workloadGflops && spec.workloadGflops > 0) {
    gateRow = g.node("Add", [gateRow, convolutionWorkload(g, S, spec.workloadGflops)]);
  }

  // Row k of the table is object k's full contribution to the flattened output.
  const table = new Float32Array(objects.length * CHANNELS * N);
  spec.objects.forEach((o, k) => {
    const a = plantedAnchor(k, S);
    const row = k * CHANNELS * N;
    o.box.forEach((v, c) => (table[row + c * N + a] = v));
    table[row + (4 + classIdOf(o.name)) * N + a] = o.score;
  });
  const flat = g.node("MatMul", [gateRow, g.constant("float", [objects.length, CHANNELS * N], table)]);
  g.output("output0", "float", spec.dynamic ? ["batch", CHANNELS, "anchors"] : [1, CHANNELS, N], g.node("Reshape", [flat, g.int64s([1, CHANNELS, N])]));
  return g.toBytes({ metadata: { task: "detect", imgsz: `[${S}, ${S}]`, description: "Aide planted-object YOLOv8 test model" } });
}

/**
 * 3x3 convolutions, 16 channels, at full input resolution until the FLOPs are spent,
 * reduced to one number and scaled by 1e-30: it changes no gate, but ONNX Runtime
 * cannot know that and computes it all.
 */
function convolutionWorkload(g: OnnxGraph, S: number, gflops: number): string {
  const width = 16;
  const perLayer = 2 * S * S * width * width * 9;
  const layers = Math.max(1, Math.round((gflops * 1e9) / perLayer));
  let x = "images";
  for (let i = 0; i < layers; i++) {
    const cin = i === 0 ? 3 : width;
    // Averaging weights keep activations bounded however deep the stack is.
    const w = g.constant("float", [width, cin, 3, 3], new Float32Array(width * cin * 9).fill(1 / (cin * 9)));
    x = g.node("Relu", [g.node("Conv", [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })]);
  }
  return g.node("Mul", [g.node("ReduceMean", [x], { keepdims: 0 }), g.scalar(1e-30)]);
}

export function writeYoloModel(path: string, spec: YoloModelSpec): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, buildYoloModel(spec));
  return path;
}

/** A fixed scene — two people and a cup, always present — for benchmarks and the qemu check. */
export function demoScene(size: number, workloadGflops = 0): YoloModelSpec {
  const u = size / 320;
  return {
    size,
    workloadGflops,
    objects: [
      { name: "person", box: [80 * u, 160 * u, 100 * u, 240 * u], score: 0.91 },
      { name: "person", box: [200 * u, 160 * u, 90 * u, 230 * u], score: 0.87 },
      { name: "cup", box: [270 * u, 250 * u, 30 * u, 40 * u], score: 0.66 },
    ],
  };
}

if (require.main === module) {
  const [out, size = "320"] = process.argv.slice(2);
  if (!out) {
    console.error("usage: yolo.ts OUT.onnx [SIZE]   (writes the two-people-and-a-cup demo model)");
    process.exit(2);
  }
  writeYoloModel(out, demoScene(Number(size)));
  console.log(`wrote ${out}`);
}
