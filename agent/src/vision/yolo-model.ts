// Loads a YOLOv8 detection model into ONNX Runtime and checks, before the first frame,
// that it is one: one float image input [1,3,S,S] and an output [1,84,anchors].
import { InferenceSession, Tensor } from "onnxruntime-node";
import { existsSync } from "node:fs";
import { yoloAnchorCount } from "./detections";

/** How a user gets the real model; shown in every "wrong or missing model" error. */
export const YOLO_MODEL_HINT =
  "get yolov8n.onnx with `npm run models -- download --only yolo` (or export one: `yolo export model=yolov8n.pt format=onnx imgsz=320`)";

export interface YoloModel {
  readonly path: string;
  /** The square input side the model runs at. */
  readonly inputSize: number;
  /** Why the input size differs from the one asked for, if it does. */
  readonly note?: string;
  /** Runs one letterboxed CHW frame (float 0..1, length 3*S*S); returns the raw [1,84,anchors] output. */
  run(chw: Float32Array): Promise<{ data: Float32Array; dims: readonly number[] }>;
  close(): Promise<void>;
}

export interface LoadOptions {
  /** The input side to use when the model accepts any (dynamic export); 320 suits a Core 2. */
  inputSize: number;
  /** ONNX Runtime threads; 1 keeps the detector to the one core its CPU budget is a share of. */
  threads: number;
}

type Dim = number | string;

function dimsOf(meta: InferenceSession.ValueMetadata | undefined): Dim[] | undefined {
  return meta && meta.isTensor ? (meta.shape as Dim[]) : undefined;
}

const show = (dims: readonly Dim[] | undefined): string => (dims ? `[${dims.join(", ")}]` : "[unknown]");

export async function loadYoloModel(path: string, options: LoadOptions): Promise<YoloModel> {
  if (!existsSync(path)) throw new Error(`YOLO model ${path} does not exist — ${YOLO_MODEL_HINT}`);
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(path, {
      intraOpNumThreads: options.threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      // Warnings go to stderr unasked; our own errors say what matters.
      logSeverityLevel: 3,
    });
  } catch (err) {
    throw new Error(`YOLO model ${path} is not an ONNX model ONNX Runtime can load (${(err as Error).message.split("\n")[0]}) — ${YOLO_MODEL_HINT}`);
  }
  const fail = async (problem: string): Promise<never> => {
    await session.release();
    throw new Error(`${path} is not a YOLOv8 detection model: ${problem} — ${YOLO_MODEL_HINT}`);
  };

  if (session.inputNames.length !== 1) await fail(`it has ${session.inputNames.length} inputs (${session.inputNames.join(", ")}); YOLOv8 has one, "images" [1, 3, S, S]`);
  if (session.outputNames.length !== 1) {
    await fail(`it has ${session.outputNames.length} outputs (${session.outputNames.join(", ")}); a YOLOv8 detector has one, "output0" [1, 84, anchors] (segmentation and pose models have other shapes)`);
  }
  const inMeta = session.inputMetadata[0];
  const input = dimsOf(inMeta);
  if (!input || input.length !== 4 || inMeta.isTensor !== true || inMeta.type !== "float32" || (typeof input[1] === "number" && input[1] !== 3)) {
    await fail(`its input "${session.inputNames[0]}" is ${inMeta.isTensor ? inMeta.type : "not a tensor"} ${show(input)}; expected float32 [1, 3, S, S]`);
  }
  const [, , h, w] = input!;
  let inputSize = options.inputSize;
  let note: string | undefined;
  if (typeof h === "number" || typeof w === "number") {
    if (h !== w || typeof h !== "number") await fail(`its input is ${show(input)}; Aide feeds square letterboxed frames [1, 3, S, S]`);
    if (h !== options.inputSize) note = `the model was exported for ${h}x${h} input, so it runs at ${h} (not the ${options.inputSize} asked for; export it with imgsz=${options.inputSize} to change that)`;
    inputSize = h as number;
  }
  if (inputSize % 32 !== 0) await fail(`input size ${inputSize} is not a multiple of 32 (YOLOv8's largest stride)`);
  const anchors = yoloAnchorCount(inputSize);
  const output = dimsOf(session.outputMetadata[0]);
  const checkOutput = async (dims: readonly Dim[] | undefined, when: string): Promise<void> => {
    if (!dims || dims.length !== 3) {
      const hint = dims?.length === 3 && dims[2] === 85 ? " (that looks like YOLOv5's [1, anchors, 85]; Aide needs a YOLOv8 export)" : "";
      await fail(`its output ${when} is ${show(dims)}; expected [1, 84, ${anchors}]${hint}`);
    }
    const [, channels, n] = dims!;
    if (typeof dims![2] === "number" && dims![2] === 85) await fail(`its output ${when} is ${show(dims)}, YOLOv5's layout; Aide needs a YOLOv8 export [1, 84, ${anchors}]`);
    if (typeof channels === "number" && channels !== 84) {
      await fail(`its output ${when} is ${show(dims)}; a COCO detector has 84 rows (4 box + 80 classes)${channels === 116 ? " — this looks like a segmentation model" : channels === 56 ? " — this looks like a pose model" : ""}`);
    }
    if (typeof n === "number" && n !== anchors) await fail(`its output ${when} has ${n} anchors; at ${inputSize}x${inputSize} YOLOv8 has ${anchors}`);
  };
  await checkOutput(output, "declared");

  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  let checked = false;
  const model: YoloModel = {
    path,
    inputSize,
    note,
    async run(chw) {
      if (chw.length !== 3 * inputSize * inputSize) throw new Error(`YOLO input has ${chw.length} values; expected 3x${inputSize}x${inputSize}`);
      const result = await session.run({ [inputName]: new Tensor("float32", chw, [1, 3, inputSize, inputSize]) });
      const out = result[outputName];
      // Dynamic exports only show their real output shape once they run.
      if (!checked) {
        await checkOutput(out.dims, "at run time");
        checked = true;
      }
      return { data: out.data as Float32Array, dims: out.dims };
    },
    close: () => session.release(),
  };
  return model;
}
