// The detector watches drawn videos and image directories through ffmpeg and the real
// ONNX Runtime path, and reports the scene only when it really changes.
// @slow: decodes drawn videos through ffmpeg and ONNX Runtime (about 15 s alone)
import { readFileSync, writeFileSync, mkdtempSync, rmSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeYoloModel } from "../../../scripts/models/onnx/yolo";
import { Detector, SceneState, DetectorOptions } from "../../src/vision/detector";
import { openSource } from "../../src/vision/frame-source";
import { SceneTracker } from "../../src/vision/scene-tracker";
import { drawFrames, encodeVideo, halves, writePpm } from "./drawn-frames";
import { SCENE } from "./scene";

const dir = mkdtempSync(join(tmpdir(), "aide-vision-video-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const model = writeYoloModel(join(dir, "scene.onnx"), SCENE);

// (left, right) per frame; single-frame flickers at 4 and 12 must not be reported.
const SCRIPT: Array<[boolean, boolean]> = [
  [true, false], [true, false], [true, false], [true, false],
  [true, true],
  [true, false], [true, false], [true, false],
  [true, true], [true, true], [true, true], [true, true],
  [false, true],
  [true, true], [true, true], [true, true],
  [false, false], [false, false], [false, false], [false, false],
];

async function watch(options: Partial<DetectorOptions> & Pick<DetectorOptions, "source">, limitMs = 60000) {
  const logs: string[] = [];
  const detector = new Detector({ model, maxFps: 100, cpuShare: 2, log: (l) => logs.push(l), ...options });
  const changes: SceneState[] = [];
  const frames: string[] = [];
  detector.on("change", (s) => changes.push(s));
  detector.on("frame", (f) => frames.push(f.objects.map((o) => `${o.count} ${o.name}`).join(", ")));
  await detector.start();
  const deadline = Date.now() + limitMs;
  while (!detector.health().ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const health = detector.health();
  await detector.stop();
  return { changes, frames, logs, health };
}

describe("watching a video", () => {
  it("says two people, then two people and a cup, then nothing, ignoring one-frame flickers", async () => {
    const frames = join(dir, "script");
    drawFrames(frames, SCRIPT.map(([l, r]) => halves(l, r)));
    const video = encodeVideo(frames, join(dir, "script.avi"));

    const { changes, frames: seen, health } = await watch({ source: { kind: "video", path: video } });

    expect(seen).toHaveLength(SCRIPT.length);
    expect(seen[4]).toBe("2 person, 1 cup"); // the flicker was seen...
    expect(changes.map((c) => c.text)).toEqual([
      "Observation: I see two people.", // ...but not reported
      "Observation: I see two people and a cup.",
      "Observation: I see nothing I recognise.",
      `I can't see right now: the video ${video} has ended`,
    ]);
    expect(changes[1]).toMatchObject({ camera: "ok", objects: [{ name: "person", count: 2 }, { name: "cup", count: 1 }] });
    expect(changes[3]).toMatchObject({ camera: "unavailable", objects: [], error: `the video ${video} has ended` });
    expect(health).toMatchObject({ framesAnalysed: SCRIPT.length, ended: true, camera: "unavailable", problems: 0 });
  });

  it("needs a change to hold for as many frames as configured", async () => {
    const frames = join(dir, "script");
    drawFrames(frames, SCRIPT.map(([l, r]) => halves(l, r)));
    const { changes } = await watch({ source: { kind: "images", dir: frames }, confirmFrames: 4 });
    // With 4 frames needed, the 4-frame "two people and a cup" holds just long enough;
    // the 3 frames after the flicker at 12 do not restart it (it never left).
    expect(changes.map((c) => c.text)).toEqual([
      "Observation: I see two people.",
      "Observation: I see two people and a cup.",
      "Observation: I see nothing I recognise.",
      `I can't see right now: the image directory ${frames} has ended`,
    ]);
    // Five frames: neither the 4-frame cup nor the 4-frame empty room is ever believed.
    const strict = await watch({ source: { kind: "images", dir: frames }, confirmFrames: 5 });
    expect(strict.changes.map((c) => c.text)).toEqual(["Observation: I see two people.", `I can't see right now: the image directory ${frames} has ended`]);
  });

  it("plays a video at its own speed when asked, like a camera, analysing the newest frame", async () => {
    const frames = join(dir, "realtime");
    drawFrames(frames, [...Array(20).fill(halves(true, false)), ...Array(20).fill(halves(false, true))]);
    const video = encodeVideo(frames, join(dir, "realtime.avi")); // 40 frames at 10 fps: 4 s
    const started = Date.now();
    const { changes, frames: seen } = await watch({ source: { kind: "video", path: video, realtime: true }, maxFps: 4, confirmFrames: 1 });
    const seconds = (Date.now() - started) / 1000;
    expect(seconds).toBeGreaterThan(3.5); // it took the video's own time...
    expect(seen.length).toBeLessThan(25); // ...and skipped frames rather than slowing it down
    expect(seen.length).toBeGreaterThan(4);
    expect(changes.map((c) => c.text)).toEqual([
      "Observation: I see two people.",
      "Observation: I see a cup.",
      `I can't see right now: the video ${video} has ended`,
    ]);
  });

  it("carries on through a damaged stretch of video", async () => {
    const frames = join(dir, "long");
    const script = [...Array(10).fill(halves(true, false)), ...Array(10).fill(halves(true, true))];
    drawFrames(frames, script);
    const video = encodeVideo(frames, join(dir, "damaged.avi"));
    const bytes = readFileSync(video);
    // Scribble over part of the second frame onwards, well inside the stream.
    const at = Math.floor(bytes.length * 0.15);
    for (let i = 0; i < 4000; i++) bytes[at + i] = (i * 7919) & 0xff;
    writeFileSync(video, bytes);

    const { changes, frames: seen, health, logs } = await watch({ source: { kind: "video", path: video } });
    expect(changes.map((c) => c.text)).toEqual([
      "Observation: I see two people.",
      "Observation: I see two people and a cup.",
      `I can't see right now: the video ${video} has ended`,
    ]);
    expect(seen.length).toBeGreaterThanOrEqual(15);
    expect(health.ended).toBe(true);
    // ffmpeg noticed the damage; the detector counted it and said so.
    expect(health.problems).toBeGreaterThan(0);
    expect(logs.join("\n")).toMatch(/video .*damaged\.avi: /);
  });

  it("skips an image that is not an image, says which, and goes on", async () => {
    const frames = join(dir, "with-junk");
    drawFrames(frames, [halves(true, false), halves(true, false), halves(true, true), halves(true, true)]);
    writeFileSync(join(frames, "0001b.png"), "not a png at all");
    const { changes, frames: seen, health, logs } = await watch({ source: { kind: "images", dir: frames } });
    expect(seen).toEqual(["2 person", "2 person", "2 person, 1 cup", "2 person, 1 cup"]);
    expect(changes.map((c) => c.text).slice(0, 2)).toEqual(["Observation: I see two people.", "Observation: I see two people and a cup."]);
    expect(health.problems).toBe(1);
    expect(logs.join("\n")).toMatch(/image directory .*with-junk: skipped 0001b\.png: not a readable image/);
  });
});

describe("without ffmpeg", () => {
  it("says it cannot see and names the missing decoder, for videos and image directories alike", async () => {
    const frames = join(dir, "no-ffmpeg");
    drawFrames(frames, [halves(true, false)]);
    for (const source of [{ kind: "video" as const, path: join(dir, "any.avi") }, { kind: "images" as const, dir: frames }]) {
      const detector = new Detector({ model, source, ffmpeg: "/nonexistent/ffmpeg", retrySeconds: 0.2, log: () => undefined });
      await detector.start();
      try {
        const deadline = Date.now() + 10000;
        while (detector.health().failedAttempts < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(detector.state()).toMatchObject({ camera: "unavailable", objects: [] });
        expect(detector.state().text).toMatch(/^I can't see right now: .*: cannot run \/nonexistent\/ffmpeg \(spawn \/nonexistent\/ffmpeg ENOENT\) — install it \(apt-get install ffmpeg\); retrying every 0\.2 s$/);
        expect(detector.health()).toMatchObject({ ended: false, framesAnalysed: 0 });
      } finally {
        await detector.stop();
      }
    }
  });
});

describe("letterboxing", () => {
  it("fits a 640x480 frame into 320x320, centred on YOLO grey, without changing its colours", async () => {
    const frames = join(dir, "colour");
    writePpm(join(frames + "-0.ppm"), 1, 1, () => [0, 0, 0]); // a stray file outside the directory is not read
    drawFrames(frames, [() => [200, 10, 50]]);
    copyFileSync(join(frames, "0000.ppm"), join(frames, "0001.ppm"));
    const source = openSource({ kind: "images", dir: frames }, { size: 320, captureFps: 5, ffmpeg: "ffmpeg" });
    try {
      const frame = (await source.next())!;
      const px = (x: number, y: number) => Array.from(frame.rgb.subarray((y * 320 + x) * 3, (y * 320 + x) * 3 + 3));
      expect(frame.rgb.length).toBe(320 * 320 * 3);
      expect(px(0, 0)).toEqual([114, 114, 114]);
      expect(px(319, 39)).toEqual([114, 114, 114]);
      expect(px(0, 40)).toEqual([200, 10, 50]);
      expect(px(160, 160)).toEqual([200, 10, 50]);
      expect(px(319, 279)).toEqual([200, 10, 50]);
      expect(px(160, 280)).toEqual([114, 114, 114]);
      expect((await source.next())!.index).toBe(1);
      expect(await source.next()).toBeNull();
    } finally {
      source.close();
    }
  });
});

describe("hysteresis", () => {
  it("reports a new set only after it holds for the configured number of frames", () => {
    const t = new SceneTracker(2);
    const set = (...names: string[]) => names.map((name) => ({ name, count: 1 }));
    const fed = [set("person"), set("person", "cup"), set("person"), set("person", "cup"), set("person", "cup"), set("cup", "person"), set()];
    expect(fed.map((s) => t.update(s)?.map((o) => o.name).join("+") ?? "-")).toEqual(["person", "-", "-", "-", "person+cup", "-", "-"]);
    expect(t.current).toEqual(set("person", "cup"));
    t.reset();
    expect(t.update(set())).toEqual([]);
  });
});
