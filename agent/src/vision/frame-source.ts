// Where frames come from: a V4L2 webcam, any live ffmpeg input (an IP camera's
// stream, a pipe), a video file, or a directory of images. Every source is decoded and
// letterboxed by an ffmpeg child writing raw RGB to a pipe.
//
// Why ffmpeg and not @u4/opencv4nodejs: both were checked on a testsrc video here.
// opencv4nodejs needs a ~7.5-minute native build against libopencv-dev (hundreds of MB
// of -dev packages on every camera node) and pins the agent to one OpenCV ABI; ffmpeg is
// one apt package, already needed for audio, decodes every webcam format (YUYV, MJPEG)
// and does the scale + pad in the same pass, in C, in a separate process whose CPU we
// can read from /proc and count against the budget.
import { ChildProcess, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { letterboxFilter } from "./letterbox";

export type SourceSpec =
  /** A V4L2 webcam, e.g. /dev/video0. Live: the newest frame wins, stale ones are dropped. */
  | { kind: "camera"; device: string; captureSize?: string }
  /** Any live input ffmpeg can open (rtsp://, http:// MJPEG, a FIFO with `format`), treated like a camera. */
  | { kind: "stream"; url: string; format?: string }
  /**
   * A video file. By default every frame is analysed in order (the file waits for the
   * detector: exact, for tests); `realtime` plays it at its own speed like a camera,
   * analysing the newest frame each time.
   */
  | { kind: "video"; path: string; loop?: boolean; realtime?: boolean }
  /** A directory of images (png, jpg, ppm, bmp, webp), analysed in name order. */
  | { kind: "images"; dir: string; loop?: boolean };

/** One picture from the camera or file (not a pipeline `Frame`). */
export interface VideoFrame {
  /** S x S letterboxed RGB bytes. */
  rgb: Uint8Array;
  /** 0-based position in the source (images and video: the file's frame order). */
  index: number;
}

export interface FrameSource {
  /** The next frame; null when a file source has ended. Live sources throw when the device is lost. */
  next(): Promise<VideoFrame | null>;
  /** Pids of the decoders working for this source now, whose CPU counts against the budget. */
  workerPids(): number[];
  close(): void;
  readonly label: string;
  /** True for cameras and streams: their end means "lost", not "finished". */
  readonly live: boolean;
}

export interface SourceOptions {
  size: number;
  /** Live sources: the most frames per second ffmpeg delivers (it drops the rest before scaling). */
  captureFps: number;
  ffmpeg: string;
  /** Problems worth a log line that do not stop the source (a corrupt image, a damaged frame). */
  onProblem?: (message: string) => void;
  /** Live sources: how long with no frame before the device counts as lost. */
  stallMs?: number;
}

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".webp", ".tif", ".tiff"]);

export function describeSource(spec: SourceSpec): string {
  switch (spec.kind) {
    case "camera":
      return `camera ${spec.device}`;
    case "stream":
      return `stream ${spec.url}`;
    case "video":
      return `video ${spec.path}`;
    case "images":
      return `image directory ${spec.dir}`;
  }
}

export function openSource(spec: SourceSpec, options: SourceOptions): FrameSource {
  const out = ["-vf", "", "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"];
  switch (spec.kind) {
    case "camera": {
      const filter = `fps=${options.captureFps},${letterboxFilter(options.size)}`;
      // 640x480 keeps YUYV decoding cheap on a Core 2; the driver picks the nearest size it has.
      // No -framerate: a driver that refuses VIDIOC_S_PARM fails the whole open
      // (libavdevice/v4l2.c); the fps filter drops frames before scaling instead, and the
      // budget counts what ffmpeg spends.
      const input = ["-f", "v4l2", "-video_size", spec.captureSize ?? "640x480", "-i", spec.device];
      return new FfmpegSource(describeSource(spec), [...input, ...withFilter(out, filter)], options, { live: true, newestOnly: true });
    }
    case "stream": {
      const filter = `fps=${options.captureFps},${letterboxFilter(options.size)}`;
      const input = [...(spec.format ? ["-f", spec.format] : []), "-i", spec.url];
      return new FfmpegSource(describeSource(spec), [...input, ...withFilter(out, filter)], options, { live: true, newestOnly: true });
    }
    case "video": {
      const input = [...(spec.loop ? ["-stream_loop", "-1"] : []), ...(spec.realtime ? ["-re"] : []), "-i", spec.path];
      const filter = spec.realtime ? `fps=${options.captureFps},${letterboxFilter(options.size)}` : letterboxFilter(options.size);
      return new FfmpegSource(describeSource(spec), [...input, ...withFilter(out, filter)], options, { live: false, newestOnly: spec.realtime ?? false });
    }
    case "images":
      return new ImageDirectorySource(spec.dir, spec.loop ?? false, options);
  }
}

function withFilter(out: string[], filter: string): string[] {
  return out.map((a, i) => (i === 1 ? filter : a));
}

// One decoding thread and one filter thread: the detector's budget is a share of one
// core, and on a 2-core node the other core belongs to the LLM or speech.
const BASE_ARGS = ["-hide_banner", "-nostdin", "-loglevel", "error", "-threads", "1", "-filter_threads", "1"];

/** Keeps the last few stderr lines of a child for error messages. */
function tailOf(child: ChildProcess, onLine?: (line: string) => void): () => string {
  const lines: string[] = [];
  let partial = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    // "[video4linux2,v4l2 @ 0x55d0c0a1b2c0] " says nothing a user (or the agent) can use.
    for (const line of parts.map((l) => l.replace(/^\[[^\]]* @ 0x[0-9a-f]+\]\s*/, "").trim()).filter(Boolean)) {
      lines.push(line);
      if (lines.length > 8) lines.shift();
      onLine?.(line);
    }
  });
  return () => [...lines, partial.trim()].filter(Boolean).slice(-3).join(" | ");
}

/** ffmpeg itself is missing or broken: no frame of any source can be read. */
class DecoderMissing extends Error {}

function cannotRun(label: string, ffmpeg: string, err: Error): DecoderMissing {
  const hint = (err as NodeJS.ErrnoException).code === "ENOENT" ? " — install it (apt-get install ffmpeg)" : "";
  return new DecoderMissing(`${label}: cannot run ${ffmpeg} (${err.message})${hint}`);
}

/**
 * SIGKILL at once: a decoder writing to our pipe has nothing to save, and ffmpeg blocked
 * opening a silent FIFO or device restarts that open() after SIGTERM and would outlive us.
 */
function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

/** One long-running ffmpeg writing S x S RGB frames back to back. */
class FfmpegSource implements FrameSource {
  private readonly child: ChildProcess;
  private readonly frameBytes: number;
  private readonly stderrTail: () => string;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Newest-only: the newest complete frame not yet handed out. Pulled: complete frames in order. */
  private ready: VideoFrame[] = [];
  private produced = 0;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private spawnError: Error | null = null;
  private waiter: (() => void) | null = null;
  private closed = false;
  readonly live: boolean;
  /** Keep reading and hand out only the newest frame (cameras, real-time video); else pull frame by frame. */
  private readonly newestOnly: boolean;

  constructor(readonly label: string, args: string[], private readonly options: SourceOptions, mode: { live: boolean; newestOnly: boolean }) {
    this.live = mode.live;
    this.newestOnly = mode.newestOnly;
    const live = mode.live;
    this.frameBytes = 3 * options.size * options.size;
    this.child = spawn(options.ffmpeg, [...BASE_ARGS, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    this.stderrTail = tailOf(this.child, (line) => {
      // With -loglevel error ffmpeg reports damaged data and carries on; say so once per line.
      if (!live || /corrupt|invalid|error while decoding/i.test(line)) options.onProblem?.(`${label}: ${line}`);
    });
    this.child.on("error", (err) => {
      this.spawnError = err;
      this.wake();
    });
    // "close", not "exit": ffmpeg may exit with its last frame still in the pipe.
    this.child.on("close", (code, signal) => {
      this.exited = { code, signal };
      this.wake();
    });
    this.child.stdout!.on("data", (chunk: Buffer) => this.take(chunk));
    // File sources are pulled: ffmpeg blocks on the full pipe while the detector works,
    // so a paused file costs no CPU. Live sources keep reading so frames never go stale.
    if (!this.newestOnly) this.child.stdout!.pause();
  }

  private take(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.frameBytes) {
      const all = Buffer.concat(this.pending);
      const rgb = new Uint8Array(this.frameBytes);
      rgb.set(all.subarray(0, this.frameBytes));
      const rest = all.subarray(this.frameBytes);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
      const frame = { rgb, index: this.produced++ };
      if (this.newestOnly) this.ready = [frame];
      else {
        this.ready.push(frame);
        this.child.stdout!.pause();
      }
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  async next(): Promise<VideoFrame | null> {
    const stallMs = this.options.stallMs ?? 10000;
    const started = Date.now();
    for (;;) {
      const frame = this.ready.shift();
      if (frame) return frame;
      if (this.spawnError) throw cannotRun(this.label, this.options.ffmpeg, this.spawnError);
      if (this.exited) {
        if (this.pendingBytes > 0) this.options.onProblem?.(`${this.label}: dropped a truncated last frame (${this.pendingBytes} of ${this.frameBytes} bytes)`);
        this.pendingBytes = 0;
        this.pending = [];
        const why = this.stderrTail() || `ffmpeg exited with ${this.exited.signal ?? `code ${this.exited.code}`}`;
        if (this.produced === 0 && (this.live || this.exited.code !== 0)) throw new Error(`${this.label} cannot be opened (${why})`);
        if (this.live) throw new Error(`${this.label} stopped sending frames (${why})`);
        return null;
      }
      if (this.closed) return null;
      if (!this.newestOnly) this.child.stdout!.resume();
      const waited = Date.now() - started;
      if (this.live && waited >= stallMs) {
        throw new Error(`${this.label} sent no frame for ${Math.round(waited / 1000)} s${this.stderrTail() ? ` (${this.stderrTail()})` : ""}`);
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        if (this.live) setTimeout(() => this.wake(), stallMs - waited).unref();
      });
    }
  }

  workerPids(): number[] {
    return this.child.pid && !this.exited ? [this.child.pid] : [];
  }

  close(): void {
    this.closed = true;
    stop(this.child);
    this.wake();
  }
}

/** Images decoded one ffmpeg run per file, so one corrupt file is skipped, not fatal. */
class ImageDirectorySource implements FrameSource {
  readonly live = false;
  readonly label: string;
  private position = 0;
  private current: ChildProcess | null = null;
  private closed = false;

  constructor(private readonly dir: string, private readonly loop: boolean, private readonly options: SourceOptions) {
    this.label = `image directory ${dir}`;
    if (this.files().length === 0) {
      throw new Error(`${this.label} has no images (${[...IMAGE_EXTENSIONS].join(", ")}) — put frames there or pick another source`);
    }
  }

  private files(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      throw new Error(`${this.label} cannot be read (${(err as Error).message})`);
    }
    return names
      .filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase()))
      .filter((n) => statSync(join(this.dir, n)).isFile())
      .sort();
  }

  async next(): Promise<VideoFrame | null> {
    // Re-listed each time: frames may be dropped into the directory while it runs.
    const files = this.files();
    let skipped = 0;
    while (!this.closed) {
      if (this.position >= files.length) {
        if (!this.loop || skipped >= files.length) return null;
        this.position = 0;
      }
      const index = this.position++;
      const file = join(this.dir, files[index]);
      try {
        return { rgb: await this.decode(file), index };
      } catch (err) {
        if (err instanceof DecoderMissing) throw err;
        skipped++;
        this.options.onProblem?.(`${this.label}: skipped ${files[index]}: ${(err as Error).message}`);
      }
    }
    return null;
  }

  private decode(file: string): Promise<Uint8Array> {
    const bytes = 3 * this.options.size * this.options.size;
    return new Promise((resolve, reject) => {
      const args = [...BASE_ARGS, "-i", file, "-frames:v", "1", "-vf", letterboxFilter(this.options.size), "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"];
      const child = spawn(this.options.ffmpeg, args, { stdio: ["ignore", "pipe", "pipe"] });
      this.current = child;
      const tail = tailOf(child);
      const chunks: Buffer[] = [];
      child.stdout!.on("data", (c: Buffer) => chunks.push(c));
      child.on("error", (err) => reject(cannotRun(this.label, this.options.ffmpeg, err)));
      child.on("close", (code) => {
        this.current = null;
        const data = Buffer.concat(chunks);
        if (code === 0 && data.length === bytes) resolve(new Uint8Array(data));
        else reject(new Error(`not a readable image (${tail() || `ffmpeg exited with code ${code}, ${data.length} of ${bytes} bytes`})`));
      });
    });
  }

  workerPids(): number[] {
    return this.current?.pid ? [this.current.pid] : [];
  }

  close(): void {
    this.closed = true;
    if (this.current) stop(this.current);
  }
}
