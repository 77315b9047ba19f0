// The detector as its own process, as the agent uses it: describe_scene answers with
// what the camera sees (or why it cannot see), and changes arrive as events. A camera
// that is missing, or unplugged and plugged back, and a wrong model are handled.
// @slow: starts the detector process a dozen times (about 12 s alone)
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OnnxGraph } from "../../../scripts/models/onnx/graph";
import { writeYoloModel } from "../../../scripts/models/onnx/yolo";
import { describeSceneTool } from "../../src/twin/tools/describe-scene";
import {
  detectorArgs,
  DetectorProcess,
  envDetectorArgs,
  parseDetectorArgs,
  SceneState,
  startDetectorProcess,
  VisionClient,
  visionFromEnv,
} from "../../src/vision";
import { drawFrames, halves } from "./drawn-frames";
import { SCENE } from "./scene";

const dir = mkdtempSync(join(tmpdir(), "aide-vision-serve-"));
const model = writeYoloModel(join(dir, "scene.onnx"), SCENE);
const started: DetectorProcess[] = [];
const writers: ChildProcess[] = [];

afterAll(async () => {
  writers.forEach((w) => w.kill("SIGKILL"));
  await Promise.all(started.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(options: Parameters<typeof startDetectorProcess>[0]): Promise<DetectorProcess> {
  const p = await startDetectorProcess({ startTimeoutMs: 60000, ...options });
  started.push(p);
  return p;
}

/** Live (not zombie) processes whose command line mentions `path`. */
function readersOf(path: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return !/\) Z /.test(stat) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(path);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("the agent asking what the camera sees", () => {
  it("answers describe_scene with the detector's observation and streams each change", async () => {
    // A directory name a shell would mangle: the detector is started without one.
    const frames = join(dir, `it's a "dir" $(touch pwned) `);
    drawFrames(frames, [halves(true, false), halves(true, false), halves(true, false), halves(true, true), halves(true, true), halves(true, true)]);
    const detector = await start({ source: { kind: "images", dir: frames, loop: true }, model, maxFps: 20, cpuShare: 1 });

    const seen: SceneState[] = [];
    const follow = detector.client.follow((s) => seen.push(s));
    try {
      await until("two people and a cup", () => seen.find((s) => s.text === "Observation: I see two people and a cup."));
      await until("back to two people", () => seen.find((s, i) => i > 1 && s.text === "Observation: I see two people."));
      expect(seen[0].text).toMatch(/^Observation: I see two people\.$|^I can't see right now: starting/);

      const tool = describeSceneTool(detector.client);
      expect(["Observation: I see two people.", "Observation: I see two people and a cup."]).toContain(await tool.run({}, new AbortController().signal));

      const res = await fetch(`${detector.url}/observation`);
      const body = (await res.json()) as SceneState;
      expect(body).toMatchObject({ camera: "ok" });
      expect(body.objects[0]).toEqual({ name: "person", count: 2 });
      const health = (await (await fetch(`${detector.url}/health`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ source: `image directory ${frames}`, inputSize: 320, camera: "ok", cpuBudget: 1, ended: false });
      expect(health.framesAnalysed as number).toBeGreaterThan(6);
      expect((await fetch(`${detector.url}/nothing`)).status).toBe(404);
      expect(existsSync("pwned") || existsSync(join(dir, "pwned")) || existsSync(join(frames, "pwned"))).toBe(false);

      // The detector goes away: the change stream says so instead of going quiet.
      await detector.stop();
      const gone = await until("the stream to notice", () => seen.find((s) => s.text.includes("is not answering")));
      expect(gone).toMatchObject({ camera: "unavailable", objects: [] });
      expect(gone.text).toMatch(new RegExp(`^I can't see right now: the vision detector at ${detector.url} is not answering \\(`));
      expect(await tool.run({}, new AbortController().signal)).toMatch(/^I can't see right now: the vision detector at .* is not answering \(ECONNREFUSED\)$/);
    } finally {
      follow.close();
    }
  });

  it("says it can't see when there is no camera, and keeps retrying", async () => {
    const detector = await start({ source: { kind: "camera", device: "/dev/video-aide-missing" }, model, retrySeconds: 0.5 });
    const client = detector.client;
    const answer = await until("the missing camera to be reported", async () => {
      const text = await client.currentObservation();
      return text.includes("retrying") ? text : undefined;
    });
    expect(answer).toBe(
      "I can't see right now: camera /dev/video-aide-missing cannot be opened (Cannot open video device /dev/video-aide-missing: No such file or directory" +
        " | /dev/video-aide-missing: No such file or directory) — is the webcam plugged in?; retrying every 0.5 s",
    );
    const retried = await until("a few retries", async () => {
      const h = (await (await fetch(`${detector.url}/health`)).json()) as { failedAttempts: number };
      return h.failedAttempts >= 3 ? h : undefined;
    }, 15000);
    expect(retried).toMatchObject({ camera: "unavailable", framesAnalysed: 0 });
    // Said once in the log, not once per attempt.
    expect(detector.log().match(/cannot be opened/g)).toHaveLength(1);
  });

  it("says it can't see while a live camera is unplugged, and sees again when it is back", async () => {
    const fifo = join(dir, "camera.fifo");
    execFileSync("mkfifo", [fifo]);
    const people = join(dir, "people");
    const cup = join(dir, "cup");
    drawFrames(people, [halves(true, false)]);
    drawFrames(cup, [halves(false, true)]);
    // A stand-in "webcam": ffmpeg playing drawn frames at camera speed into a FIFO.
    const plugIn = (framesDir: string) => {
      const w = spawn("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-re", "-stream_loop", "-1", "-framerate", "10", "-i", join(framesDir, "%04d.ppm"), "-c:v", "mjpeg", "-f", "nut", fifo], { stdio: "ignore" });
      writers.push(w);
      return w;
    };
    let camera = plugIn(people);
    const detector = await start({ source: { kind: "stream", url: fifo, format: "nut" }, model, retrySeconds: 0.5, maxFps: 10, cpuShare: 1 });
    const client = detector.client;
    const answer = (want: RegExp) => until(`an answer like ${want}`, async () => {
      const text = await client.currentObservation();
      return want.test(text) ? text : undefined;
    });

    await answer(/^Observation: I see two people\.$/);
    camera.kill("SIGKILL"); // unplugged
    expect(await answer(/^I can't see right now/)).toMatch(new RegExp(`^I can't see right now: stream ${fifo} stopped sending frames .*; retrying every 0\\.5 s$`));
    camera = plugIn(cup); // plugged back, pointing elsewhere
    await answer(/^Observation: I see a cup\.$/);
    camera.kill("SIGKILL");
  });

  it("says it can't see when a live camera hangs without a word", async () => {
    // A FIFO nobody writes to: ffmpeg waits forever, like a wedged USB camera.
    const fifo = join(dir, "silent.fifo");
    execFileSync("mkfifo", [fifo]);
    const detector = await start({ source: { kind: "stream", url: fifo, format: "nut" }, model, stallSeconds: 1, retrySeconds: 0.5 });
    const answer = await until("the silence to be noticed", async () => {
      const text = await detector.client.currentObservation();
      return text.includes("sent no frame") ? text : undefined;
    });
    expect(answer).toBe(`I can't see right now: stream ${fifo} sent no frame for 1 s; retrying every 0.5 s`);
    // Its ffmpeg, stuck opening the FIFO, goes with it.
    await until("a reader of the FIFO", () => (readersOf(fifo).length > 0 ? true : undefined));
    await detector.stop();
    await until("no reader of the FIFO left", () => (readersOf(fifo).length === 0 ? true : undefined), 5000);
  });

  it("refuses to start with a model that is not a YOLOv8 detector, saying why", async () => {
    const g = new OnnxGraph("classifier");
    g.input("images", "float", [1, 3, 224, 224]);
    const m = g.node("ReduceMean", ["images"], { keepdims: 1, axes: [2, 3] });
    g.output("output0", "float", [1, 1000], g.node("Expand", [g.node("ReduceMean", [m], { keepdims: 0 }), g.int64s([1, 1000])]));
    const wrong = join(dir, "classifier.onnx");
    writeFileSync(wrong, g.toBytes());
    await expect(startDetectorProcess({ source: { kind: "images", dir }, model: wrong, startTimeoutMs: 60000 })).rejects.toThrow(
      /vision: .*classifier\.onnx is not a YOLOv8 detection model: its output declared is \[1, 1000\]; expected \[1, 84, 1029\] — get yolov8n\.onnx/,
    );
  });

  it("lists every bad flag at once", () => {
    expect(() => parseDetectorArgs(["--source", "webcam0", "--cpu-share", "half", "--frobnicate", "1"])).toThrow(
      'vision detector: --cpu-share half: expected a number of at least 0; unknown flag --frobnicate; --source webcam0: give kind:location, e.g. camera:/dev/video0, video:/path/file.mp4, images:/path/dir, stream:rtsp://host/path',
    );
  });

  it("hands the child process exactly the options it was started with", () => {
    const options = {
      source: { kind: "video" as const, path: "/videos/it's a \"clip\".mp4", loop: true, realtime: true },
      model: "/models/yolov8n.onnx",
      inputSize: 416,
      cpuShare: 0.35,
      maxFps: 3,
      confidence: 0.4,
      iou: 0.5,
      confirmFrames: 3,
      retrySeconds: 5,
      stallSeconds: 20,
      threads: 2,
      host: "0.0.0.0",
      port: 8770,
      ffmpeg: "/usr/local/bin/ffmpeg",
    };
    expect(parseDetectorArgs(detectorArgs(options))).toEqual(options);
    for (const source of [
      { kind: "camera" as const, device: "/dev/video1", captureSize: "320x240" },
      { kind: "stream" as const, url: "rtsp://cam.lan:554/live?user=a&b", format: "rtsp" },
      { kind: "images" as const, dir: "/frames", loop: false },
    ]) {
      expect(parseDetectorArgs(detectorArgs({ source })).source).toEqual(source);
    }
  });

  it("takes its settings from a Nomad task's environment, the command line winning", () => {
    const env = { AIDE_VISION_HOST: "127.0.0.1", AIDE_VISION_PORT: "23456", AIDE_VISION_SOURCE: "camera:/dev/video2", AIDE_VISION_CPU_SHARE: "0.4" };
    expect(parseDetectorArgs([...envDetectorArgs(env), "--cpu-share", "0.3"])).toEqual({
      host: "127.0.0.1",
      port: 23456,
      cpuShare: 0.3,
      source: { kind: "camera", device: "/dev/video2", captureSize: undefined },
    });
    expect(() => parseDetectorArgs(envDetectorArgs({ AIDE_VISION_PORT: "eighty" }))).toThrow("vision detector: --port eighty: expected a number of at least 0");
  });

  it("gives the agent its eyes from the environment: a child detector, a remote one, or none", async () => {
    const frames = join(dir, "env-frames");
    drawFrames(frames, [halves(false, true)]);
    const vision = await visionFromEnv({ ...process.env, AIDE_VISION_SOURCE: `images:${frames}`, AIDE_VISION_MODEL: model, AIDE_VISION_URL: "" });
    expect(vision).toBeDefined();
    try {
      expect(vision!.describe).toMatch(/^vision detector \(pid \d+\) at http:\/\/127\.0\.0\.1:\d+$/);
      // One image, then the directory has ended: its last word stays put.
      const last = await until("the end of the images", async () => {
        const h = await vision!.scene.observation();
        return h.text.includes("ended") ? h : undefined;
      });
      expect(last.text).toBe(`I can't see right now: the image directory ${frames} has ended`);
      const url = vision!.describe.split(" at ")[1];
      const health = (await (await fetch(`${url}/health`)).json()) as { framesAnalysed: number };
      expect(health.framesAnalysed).toBe(1);
      const remote = await visionFromEnv({ AIDE_VISION_URL: url });
      expect(remote!.describe).toBe(`vision detector at ${url}`);
      expect((await remote!.scene.observation()).at).toBe((await vision!.scene.observation()).at);
    } finally {
      await vision!.stop();
    }
    expect(await visionFromEnv({})).toBeUndefined();
  });

  it("tells the agent it can't see when the detector itself is gone", async () => {
    // A port that was just free: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const client = new VisionClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
    expect(await client.currentObservation()).toBe(`I can't see right now: the vision detector at http://127.0.0.1:${port} is not answering (ECONNREFUSED)`);
  });
});
