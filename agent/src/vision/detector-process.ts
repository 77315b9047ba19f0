// The detector as its own process: a Nomad task on the node with the camera, or a
// child of the agent in single-machine mode. Every setting is a flag, parsed here once:
//
//   detector-process --source camera:/dev/video0   V4L2 webcam (default camera:/dev/video0)
//                    --source stream:rtsp://cam/1  any live ffmpeg input; --stream-format for pipes
//                    --source video:/path/file.mp4 a video file (--loop to repeat it, --realtime to play it
//                                                  at its own speed like a camera; else every frame is analysed)
//                    --source images:/path/dir     a directory of images (--loop to repeat)
//                    --model PATH                  YOLOv8 .onnx (default: the yolo model in the model directory)
//                    --input-size 320              model input side when the model allows any
//                    --cpu-share 0.5               most of one core detector + decoder may use
//                    --max-fps 5                   upper bound on analysed frames per second
//                    --confidence 0.25 --iou 0.45  detection threshold and NMS overlap
//                    --confirm-frames 2            frames a new scene must hold before it is reported
//                    --retry-seconds 2             wait between attempts to reopen a lost camera
//                    --stall-seconds 10            a live source silent this long counts as lost
//                    --threads 1                   ONNX Runtime threads
//                    --host 127.0.0.1 --port 8770  where the HTTP API listens (0 = any free port)
//                    --ffmpeg ffmpeg               the ffmpeg binary
// The environment can set some of the same (a Nomad task's env; the table is ./env.ts,
// which the agent's --help lists too): AIDE_VISION_SOURCE, AIDE_VISION_MODEL, ...; flags win over it.
// When it listens it prints one JSON line on stdout: {"event":"listening","url":...}.
import { findBundle, defaultModelDir } from "../models/manifest";
import { Detector, DetectorOptions } from "./detector";
import { SourceSpec } from "./frame-source";
import { serveDetector } from "./http-api";
import { VISION_ENV_FLAGS } from "./env";

export const DEFAULT_VISION_PORT = 8770;

export interface DetectorProcessOptions extends Omit<DetectorOptions, "log" | "model"> {
  /** Defaults to the yolo model in the model directory ($AIDE_MODELS_DIR or $AIDE_CACHE/models). */
  model?: string;
  host?: string;
  port?: number;
}

const NUMBER_FLAGS = {
  "--input-size": "inputSize",
  "--cpu-share": "cpuShare",
  "--max-fps": "maxFps",
  "--confidence": "confidence",
  "--iou": "iou",
  "--confirm-frames": "confirmFrames",
  "--retry-seconds": "retrySeconds",
  "--stall-seconds": "stallSeconds",
  "--threads": "threads",
  "--port": "port",
} as const satisfies Record<string, keyof DetectorProcessOptions>;

const STRING_FLAGS = { "--model": "model", "--host": "host", "--ffmpeg": "ffmpeg" } as const satisfies Record<string, keyof DetectorProcessOptions>;

interface SourceExtras {
  format?: string;
  loop: boolean;
  realtime: boolean;
  captureSize?: string;
}

function parseSource(value: string, extra: SourceExtras): SourceSpec {
  const colon = value.indexOf(":");
  const kind = value.slice(0, Math.max(colon, 0));
  const where = value.slice(colon + 1);
  if (colon <= 0 || !where) throw new Error(`--source ${value}: give kind:location, e.g. camera:/dev/video0, video:/path/file.mp4, images:/path/dir, stream:rtsp://host/path`);
  switch (kind) {
    case "camera":
      return { kind, device: where, captureSize: extra.captureSize };
    case "stream":
      return { kind, url: where, format: extra.format };
    case "video":
      return { kind, path: where, loop: extra.loop, realtime: extra.realtime };
    case "images":
      return { kind, dir: where, loop: extra.loop };
    default:
      throw new Error(`--source ${value}: unknown kind "${kind}"; use camera:, stream:, video: or images:`);
  }
}

/** Parses the flags above into options, listing every problem at once. */
export function parseDetectorArgs(argv: readonly string[]): DetectorProcessOptions {
  const problems: string[] = [];
  const options: Record<string, unknown> = {};
  let source = "camera:/dev/video0";
  const extra: SourceExtras = { loop: false, realtime: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--loop" || flag === "--realtime") {
      extra[flag === "--loop" ? "loop" : "realtime"] = true;
      continue;
    }
    const value = argv[i + 1];
    const known = flag === "--source" || flag === "--stream-format" || flag === "--capture-size" || flag in NUMBER_FLAGS || flag in STRING_FLAGS;
    if (!known) {
      problems.push(`unknown flag ${flag}`);
      if (value !== undefined && !value.startsWith("--")) i++;
      continue;
    }
    i++;
    if (value === undefined) {
      problems.push(`${flag} needs a value`);
      continue;
    }
    if (flag === "--source") source = value;
    else if (flag === "--stream-format") extra.format = value;
    else if (flag === "--capture-size") extra.captureSize = value;
    else if (flag in STRING_FLAGS) options[STRING_FLAGS[flag as keyof typeof STRING_FLAGS]] = value;
    else {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n) || n < 0) problems.push(`${flag} ${value}: expected a number of at least 0`);
      else options[NUMBER_FLAGS[flag as keyof typeof NUMBER_FLAGS]] = n;
    }
  }
  try {
    options.source = parseSource(source, extra);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length) throw new Error(`vision detector: ${problems.join("; ")}`);
  return options as unknown as DetectorProcessOptions;
}

/** The flags that reproduce `options`: how the agent starts its child and the Nomad job its task. */
export function detectorArgs(options: DetectorProcessOptions): string[] {
  const s = options.source;
  const args: string[] = [];
  switch (s.kind) {
    case "camera":
      args.push("--source", `camera:${s.device}`, ...(s.captureSize ? ["--capture-size", s.captureSize] : []));
      break;
    case "stream":
      args.push("--source", `stream:${s.url}`, ...(s.format ? ["--stream-format", s.format] : []));
      break;
    case "video":
      args.push("--source", `video:${s.path}`, ...(s.loop ? ["--loop"] : []), ...(s.realtime ? ["--realtime"] : []));
      break;
    case "images":
      args.push("--source", `images:${s.dir}`, ...(s.loop ? ["--loop"] : []));
      break;
  }
  for (const [flag, key] of [...Object.entries(NUMBER_FLAGS), ...Object.entries(STRING_FLAGS)]) {
    const v = options[key as keyof DetectorProcessOptions];
    if (v !== undefined) args.push(flag, String(v));
  }
  return args;
}

/** The flags the environment sets, to go before the command line's (later flags win). */
export function envDetectorArgs(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(VISION_ENV_FLAGS).flatMap(([name, { flag }]) => (env[name] ? [flag, env[name] as string] : []));
}

export async function runDetectorProcess(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const options = parseDetectorArgs([...envDetectorArgs(env), ...argv]);
  const model = options.model ?? findBundle(defaultModelDir(), "yolo").files.model;
  const detector = new Detector({ ...options, model });
  await detector.start();
  const served = await serveDetector(detector, options.host ?? "127.0.0.1", options.port ?? DEFAULT_VISION_PORT);
  process.stdout.write(`${JSON.stringify({ event: "listening", url: served.url, model, inputSize: detector.health().inputSize })}\n`);
  const shutdown = async () => {
    await served.close();
    await detector.stop();
    process.exit(0);
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}

if (require.main === module) {
  runDetectorProcess(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`vision: ${err.message}\n`);
    process.exit(1);
  });
}
