// The detector names exactly the objects a model reports: the planted-object YOLOv8
// models run through real ONNX Runtime, and every box, class and sentence is checked.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildYoloModel, plantedAnchor, writeYoloModel } from "../../../scripts/models/onnx/yolo";
import { OnnxGraph } from "../../../scripts/models/onnx/graph";
import { countedPhrase, classIdOf } from "../../src/vision/coco";
import { decodeYoloOutput, yoloAnchorCount } from "../../src/vision/detections";
import { countObjects, observationText } from "../../src/vision/observation";
import { loadYoloModel } from "../../src/vision/yolo-model";

const dir = mkdtempSync(join(tmpdir(), "aide-vision-naming-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const S = 320;
const grey = (v: number) => new Float32Array(3 * S * S).fill(v);

describe("naming what the camera sees", () => {
  it("decodes planted boxes, keeps the best of overlapping same-class boxes, and names them", async () => {
    const path = writeYoloModel(join(dir, "scene.onnx"), {
      size: S,
      objects: [
        { name: "person", box: [100, 150, 80, 200], score: 0.9 },
        { name: "person", box: [104, 152, 80, 200], score: 0.6 }, // same person again: NMS drops it
        { name: "person", box: [250, 150, 60, 180], score: 0.8 }, // a second person, no overlap
        { name: "cup", box: [110, 160, 30, 40], score: 0.5 }, // inside the first person: other class, kept
        { name: "dog", box: [40, 280, 50, 30], score: 0.2 }, // below the 0.25 threshold
        { name: "cat", box: [280, 290, 40, 30], score: 0.25 }, // exactly at the threshold: kept
      ],
    });
    const model = await loadYoloModel(path, { inputSize: S, threads: 1 });
    try {
      const out = await model.run(grey(0.5));
      expect(out.dims).toEqual([1, 84, 2100]);
      const found = decodeYoloOutput(out.data, out.dims);
      expect(found.map((d) => [d.name, Math.round(d.score * 100) / 100, d.box])).toEqual([
        ["person", 0.9, { x1: 60, y1: 50, x2: 140, y2: 250 }],
        ["person", 0.8, { x1: 220, y1: 60, x2: 280, y2: 240 }],
        ["cup", 0.5, { x1: 95, y1: 140, x2: 125, y2: 180 }],
        ["cat", 0.25, { x1: 260, y1: 275, x2: 300, y2: 305 }],
      ]);
      expect(countObjects(found)).toEqual([
        { name: "person", count: 2 },
        { name: "cat", count: 1 },
        { name: "cup", count: 1 },
      ]);
      expect(observationText(countObjects(found))).toBe("Observation: I see two people, a cat and a cup.");

      // A stricter threshold and a looser overlap rule change the answer as they should.
      const strict = decodeYoloOutput(out.data, out.dims, { confidence: 0.55, iou: 0.99, maxDetections: 100 });
      expect(strict.map((d) => d.name)).toEqual(["person", "person", "person"]);
    } finally {
      await model.close();
    }
  });

  it("writes each planted object into its own anchor of a real-sized YOLOv8 head", () => {
    expect(yoloAnchorCount(320)).toBe(2100);
    expect(yoloAnchorCount(416)).toBe(3549);
    expect(yoloAnchorCount(640)).toBe(8400);
    const anchors = new Set(Array.from({ length: 50 }, (_, k) => plantedAnchor(k, 320)));
    expect(anchors.size).toBe(50);
  });

  it("sees an object only while its region of the frame is bright", async () => {
    const path = writeYoloModel(join(dir, "gated.onnx"), {
      size: S,
      objects: [
        { name: "person", box: [80, 160, 100, 200], score: 0.9, when: { region: [0, 0, 160, 320], above: 0.5 } },
        { name: "cup", box: [240, 200, 40, 40], score: 0.7, when: { region: [160, 0, 320, 320], above: 0.5 } },
        { name: "laptop", box: [160, 280, 120, 60], score: 0.8 },
      ],
    });
    const model = await loadYoloModel(path, { inputSize: S, threads: 1 });
    const frame = (left: number, right: number) => {
      const x = new Float32Array(3 * S * S);
      for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let xx = 0; xx < S; xx++) x[c * S * S + y * S + xx] = xx < 160 ? left : right;
      return x;
    };
    const see = async (left: number, right: number) => {
      const out = await model.run(frame(left, right));
      return observationText(countObjects(decodeYoloOutput(out.data, out.dims)));
    };
    try {
      expect(await see(0, 0)).toBe("Observation: I see a laptop.");
      expect(await see(1, 0)).toBe("Observation: I see a person and a laptop.");
      expect(await see(0, 1)).toBe("Observation: I see a cup and a laptop.");
      expect(await see(1, 1)).toBe("Observation: I see a person, a cup and a laptop.");
      expect(await see(0.45, 0.55)).toBe("Observation: I see a cup and a laptop.");
    } finally {
      await model.close();
    }
  });

  it("counts in words the agent can say", () => {
    const phrase = (name: string, n: number) => countedPhrase(classIdOf(name), n);
    expect(phrase("person", 1)).toBe("a person");
    expect(phrase("person", 3)).toBe("three people");
    expect(phrase("apple", 1)).toBe("an apple");
    expect(phrase("umbrella", 1)).toBe("an umbrella");
    expect(phrase("tv", 2)).toBe("two TVs");
    expect(phrase("knife", 2)).toBe("two knives");
    expect(phrase("mouse", 2)).toBe("two mice");
    expect(phrase("sheep", 4)).toBe("four sheep");
    expect(phrase("scissors", 1)).toBe("a pair of scissors");
    expect(phrase("wine glass", 20)).toBe("twenty wine glasses");
    expect(phrase("chair", 21)).toBe("21 chairs");
    expect(observationText([])).toBe("Observation: I see nothing I recognise.");
    expect(observationText([{ name: "cup", count: 1 }])).toBe("Observation: I see a cup.");
    expect(() => classIdOf("unicorn")).toThrow(/"unicorn" is not one of the 80 COCO class names/);
  });

  it("skips boxes with NaN scores or no size instead of naming garbage", () => {
    const n = 4;
    const out = new Float32Array(84 * n);
    const put = (a: number, box: number[], cls: number, score: number) => {
      box.forEach((v, c) => (out[c * n + a] = v));
      out[(4 + cls) * n + a] = score;
    };
    put(0, [10, 10, 4, 4], 0, NaN);
    put(1, [10, 10, 0, 4], 0, 0.9);
    put(2, [50, 50, 10, 10], 41, 0.9);
    expect(decodeYoloOutput(out, [1, 84, n]).map((d) => d.name)).toEqual(["cup"]);
    expect(() => decodeYoloOutput(out, [1, 85, n])).toThrow(/expected \[1, 84, anchors\]/);
  });
});

describe("refusing models that are not YOLOv8 detectors", () => {
  const modelWith = (name: string, build: (g: OnnxGraph) => void): string => {
    const g = new OnnxGraph(name);
    build(g);
    const path = join(dir, `${name}.onnx`);
    writeFileSync(path, g.toBytes());
    return path;
  };
  const load = (path: string) => loadYoloModel(path, { inputSize: S, threads: 1 });

  it("says a segmentation-shaped output is not a detection model", async () => {
    const path = modelWith("seg", (g) => {
      g.input("images", "float", [1, 3, S, S]);
      const m = g.node("ReduceMean", ["images"], { keepdims: 0 });
      g.output("output0", "float", [1, 116, 2100], g.node("Expand", [m, g.int64s([1, 116, 2100])]));
    });
    await expect(load(path)).rejects.toThrow(/seg\.onnx is not a YOLOv8 detection model: its output declared is \[1, 116, 2100\].*segmentation model.*yolov8n\.onnx/);
  });

  it("says a YOLOv5 layout is not a YOLOv8 export", async () => {
    const path = modelWith("v5", (g) => {
      g.input("images", "float", [1, 3, S, S]);
      const m = g.node("ReduceMean", ["images"], { keepdims: 0 });
      g.output("output0", "float", [1, 6300, 85], g.node("Expand", [m, g.int64s([1, 6300, 85])]));
    });
    await expect(load(path)).rejects.toThrow(/v5\.onnx is not a YOLOv8 detection model: .*YOLOv5/);
  });

  it("says a model whose input is not an RGB image batch is the wrong kind", async () => {
    const path = modelWith("mono", (g) => {
      g.input("images", "float", [1, 1, S, S]);
      g.output("output0", "float", [1, 1, S, S], g.node("Relu", ["images"]));
    });
    await expect(load(path)).rejects.toThrow(/mono\.onnx is not a YOLOv8 detection model: its input "images" is float32 \[1, 1, 320, 320\]; expected float32 \[1, 3, S, S\]/);
  });

  it("runs a model exported at another size at its own size and says so", async () => {
    const path = join(dir, "at416.onnx");
    writeFileSync(path, buildYoloModel({ size: 416, objects: [{ name: "cup", box: [200, 200, 20, 20], score: 0.9 }] }));
    const model = await load(path);
    try {
      expect(model.inputSize).toBe(416);
      expect(model.note).toMatch(/exported for 416x416 input, so it runs at 416 \(not the 320 asked for/);
      const out = await model.run(new Float32Array(3 * 416 * 416));
      expect(decodeYoloOutput(out.data, out.dims).map((d) => d.name)).toEqual(["cup"]);
    } finally {
      await model.close();
    }
  });

  it("runs a dynamic-size export at the size asked for, and refuses a size its head does not fit", async () => {
    const path = writeYoloModel(join(dir, "dynamic.onnx"), { size: 320, dynamic: true, objects: [{ name: "cup", box: [100, 100, 20, 20], score: 0.8 }] });
    const at320 = await load(path);
    try {
      expect(at320.inputSize).toBe(320);
      expect(at320.note).toBeUndefined();
      const out = await at320.run(grey(0.5));
      expect(decodeYoloOutput(out.data, out.dims).map((d) => d.name)).toEqual(["cup"]);
    } finally {
      await at320.close();
    }
    // Asked to run at 416, this head still answers with 320's 2100 anchors (ONNX Runtime
    // infers that from the graph): not a YOLOv8 head at 416, refused before any frame.
    await expect(loadYoloModel(path, { inputSize: 416, threads: 1 })).rejects.toThrow(
      /dynamic\.onnx is not a YOLOv8 detection model: its output declared has 2100 anchors; at 416x416 YOLOv8 has 3549/,
    );
  });

  it("names a missing file and a file that is not ONNX at all", async () => {
    await expect(load(join(dir, "nope.onnx"))).rejects.toThrow(/YOLO model .*nope\.onnx does not exist — get yolov8n\.onnx/);
    const junk = join(dir, "junk.onnx");
    writeFileSync(junk, "this is a text file, not a model\n");
    await expect(load(junk)).rejects.toThrow(/junk\.onnx is not an ONNX model ONNX Runtime can load/);
  });
});
