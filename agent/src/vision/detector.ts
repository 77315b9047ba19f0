// The detector: frames from a source, through the model, into the scene tracker, paced
// by the CPU budget. It never exits on its own for a lost camera: it says it cannot see,
// and tries again.
import { EventEmitter } from "node:events";
import { sleep } from "../abort";
import { cpuSecondsUsed, FramePacer } from "./cpu-budget";
import { decodeYoloOutput, DEFAULT_DECODE } from "./detections";
import { describeSource, FrameSource, openSource, SourceSpec } from "./frame-source";
import { LETTERBOX_GREY, rgbToChw } from "./letterbox";
import { cantSeeText, countObjects, ObjectCount, observationText } from "./observation";
import { SceneTracker } from "./scene-tracker";
import { loadYoloModel, YoloModel } from "./yolo-model";

export interface DetectorOptions {
  source: SourceSpec;
  /** Path of a YOLOv8 detection model (.onnx). */
  model: string;
  /** Model input side; 320 costs a Core 2 about a quarter of 640. Models exported at a fixed size use theirs. */
  inputSize?: number;
  /** Most of one core the detector (with its decoder) may use; default 0.5. */
  cpuShare?: number;
  /** Upper bound on analysed frames per second; default 5 (a room changes slowly). */
  maxFps?: number;
  /** Lowest class score that counts as seen; default 0.25. */
  confidence?: number;
  /** NMS overlap threshold; default 0.45. */
  iou?: number;
  /** Frames a new set of objects must hold before it is reported; default 2. */
  confirmFrames?: number;
  /** Wait between attempts to reopen a lost camera; default 2 s. */
  retrySeconds?: number;
  /** Live sources: seconds without a frame before the camera counts as lost (a hung USB camera); default 10. */
  stallSeconds?: number;
  /** ONNX Runtime threads; default 1. */
  threads?: number;
  /** The ffmpeg binary; default "ffmpeg" on PATH. */
  ffmpeg?: string;
  log?: (line: string) => void;
}

export interface SceneState {
  /** What the agent says: the observation, or why it cannot see. */
  text: string;
  objects: ObjectCount[];
  /** When this state began (ISO 8601). */
  at: string;
  camera: "ok" | "unavailable";
  error?: string;
}

export interface FrameReport {
  index: number;
  objects: ObjectCount[];
  preprocessMs: number;
  inferenceMs: number;
}

export interface DetectorHealth {
  source: string;
  model: string;
  inputSize: number;
  camera: SceneState["camera"];
  framesAnalysed: number;
  problems: number;
  lastProblem?: string;
  /** Frames per second achieved over the last ~10 s. */
  fps: number;
  /** The rate the CPU budget allows for the current cost per frame (capped by maxFps). */
  targetFps: number;
  /** Share of one core used over the last ~10 s, decoder included. */
  cpuShare: number;
  cpuBudget: number;
  note?: string;
  ended: boolean;
  /** Failed attempts to open or keep the source since it last delivered a frame. */
  failedAttempts: number;
}

export declare interface Detector {
  on(event: "change", listener: (state: SceneState) => void): this;
  on(event: "frame", listener: (frame: FrameReport) => void): this;
}

export class Detector extends EventEmitter {
  private readonly opts: Required<Omit<DetectorOptions, "log">> & Pick<DetectorOptions, "log">;
  private model: YoloModel | null = null;
  private source: FrameSource | null = null;
  private readonly tracker: SceneTracker;
  private pacer: FramePacer;
  private current: SceneState;
  private frames = 0;
  private problems = 0;
  private lastProblem: string | undefined;
  private ended = false;
  private failedAttempts = 0;
  private running: Promise<void> | null = null;
  private readonly stopping = new AbortController();

  constructor(options: DetectorOptions) {
    super();
    this.opts = {
      inputSize: 320,
      cpuShare: 0.5,
      maxFps: 5,
      confidence: DEFAULT_DECODE.confidence,
      iou: DEFAULT_DECODE.iou,
      confirmFrames: 2,
      retrySeconds: 2,
      stallSeconds: 10,
      threads: 1,
      ffmpeg: "ffmpeg",
      ...options,
    };
    this.tracker = new SceneTracker(this.opts.confirmFrames);
    this.pacer = this.newPacer();
    const why = `starting: no frame analysed yet from ${describeSource(options.source)}`;
    this.current = { text: cantSeeText(why), objects: [], at: new Date().toISOString(), camera: "unavailable", error: why };
  }

  private newPacer(): FramePacer {
    return new FramePacer(
      { cpuShare: this.opts.cpuShare, maxFps: this.opts.maxFps, maxIntervalSeconds: 30 },
      () => cpuSecondsUsed(this.source?.workerPids() ?? []),
    );
  }

  /** Loads the model (throwing a clear error if it is not a YOLOv8 detector), then runs until stop(). */
  async start(): Promise<void> {
    const model = await loadYoloModel(this.opts.model, { inputSize: this.opts.inputSize, threads: this.opts.threads });
    // One blank frame first: dynamic exports show their real output shape only when they
    // run, and a wrong one should stop the detector now, not be retried as a camera fault.
    try {
      await model.run(new Float32Array(3 * model.inputSize * model.inputSize).fill(LETTERBOX_GREY / 255));
    } catch (err) {
      await model.close();
      throw err;
    }
    this.model = model;
    if (model.note) this.log(`vision: ${model.note}`);
    this.running = this.run();
  }

  /** The latest state; always answers, whatever the camera is doing. */
  state(): SceneState {
    return this.current;
  }

  health(): DetectorHealth {
    const stats = this.pacer.stats();
    return {
      source: describeSource(this.opts.source),
      model: this.opts.model,
      inputSize: this.model?.inputSize ?? this.opts.inputSize,
      camera: this.current.camera,
      framesAnalysed: this.frames,
      problems: this.problems,
      lastProblem: this.lastProblem,
      fps: round(stats.fps, 2),
      targetFps: round(1 / stats.intervalSeconds, 2),
      cpuShare: round(stats.cpuShare, 3),
      cpuBudget: this.opts.cpuShare,
      note: this.model?.note,
      ended: this.ended,
      failedAttempts: this.failedAttempts,
    };
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.source?.close();
    await this.running;
    await this.model?.close();
    this.model = null;
  }

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }

  private problem(message: string): void {
    this.problems++;
    this.lastProblem = message;
    this.log(`vision: ${message}`);
  }

  private publish(next: Omit<SceneState, "at">): void {
    const same = next.camera === this.current.camera && next.text === this.current.text;
    if (same) return;
    this.current = { ...next, at: new Date().toISOString() };
    this.emit("change", this.current);
  }

  private unavailable(error: string): void {
    this.tracker.reset();
    this.publish({ text: cantSeeText(error), objects: [], camera: "unavailable", error });
  }

  private async run(): Promise<void> {
    const label = describeSource(this.opts.source);
    const retry = `retrying every ${this.opts.retrySeconds} s`;
    while (!this.stopping.signal.aborted) {
      try {
        this.source = openSource(this.opts.source, {
          size: this.model!.inputSize,
          captureFps: this.opts.maxFps,
          ffmpeg: this.opts.ffmpeg,
          onProblem: (m) => this.problem(m),
          stallMs: this.opts.stallSeconds * 1000,
        });
        this.pacer = this.newPacer();
        const finished = await this.analyse(this.source);
        if (finished) {
          this.ended = true;
          this.unavailable(`the ${label} has ended`);
          this.log(`vision: the ${label} has ended after ${this.frames} frames`);
          return;
        }
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        const message = (err as Error).message;
        const hint = this.opts.source.kind !== "camera" ? "" : /permission denied/i.test(message)
          ? " — add the user running the detector to the video group (usermod -aG video USER)"
          : " — is the webcam plugged in?";
        this.failedAttempts++;
        this.unavailable(`${message}${hint}; ${retry}`);
        // A camera left unplugged for a day should not write a line every 2 s.
        if (this.failedAttempts === 1 || this.failedAttempts % 30 === 0) this.log(`vision: ${message}; ${retry} (attempt ${this.failedAttempts})`);
      } finally {
        this.source?.close();
        this.source = null;
      }
      await sleep(this.opts.retrySeconds * 1000, this.stopping.signal);
    }
  }

  /** Analyses frames until the source ends (true) or stop() (false); throws when the source is lost. */
  private async analyse(source: FrameSource): Promise<boolean> {
    const model = this.model!;
    const size = model.inputSize;
    const chw = new Float32Array(3 * size * size);
    const decode = { ...DEFAULT_DECODE, confidence: this.opts.confidence, iou: this.opts.iou };
    while (!this.stopping.signal.aborted) {
      this.pacer.frameStarted();
      const frame = await source.next();
      if (!frame) return !this.stopping.signal.aborted;
      const t0 = performance.now();
      rgbToChw(frame.rgb, size, chw);
      const t1 = performance.now();
      const out = await model.run(chw);
      const t2 = performance.now();
      const objects = countObjects(decodeYoloOutput(out.data, out.dims, decode));
      this.frames++;
      this.failedAttempts = 0;
      const confirmed = this.tracker.update(objects);
      if (confirmed) this.publish({ text: observationText(confirmed), objects: confirmed, camera: "ok" });
      this.emit("frame", { index: frame.index, objects, preprocessMs: t1 - t0, inferenceMs: t2 - t1 } satisfies FrameReport);
      await sleep(this.pacer.delayAfterFrame() * 1000, this.stopping.signal);
    }
    return false;
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
