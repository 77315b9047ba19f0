// The voice-agent job's vision task, its exact command line run here: the YOLO detector
// starts from it (a generated planted-object model, drawn frames as the camera) and
// answers on the port Nomad gave the group, on loopback where the agent asks it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { voiceAgentJob } from "../../nomad-jobs";
import { writeYoloModel } from "../../scripts/models/onnx/yolo";
import { drawFrames, halves } from "../../agent/test/vision/drawn-frames";
import { SCENE } from "../../agent/test/vision/scene";
import { freePort } from "../support/ports";
import { agentArgs } from "./support/fixtures";
import { httpOk, prepareTask, runTask, RunningTask, waitFor } from "./support/nomad-runtime";

const REPO = join(__dirname, "..", "..");

describe("voice-agent job's vision task, command run for real", () => {
  let task: RunningTask | undefined;
  afterAll(async () => { await task?.stop(); });

  it("starts the detector on the group's vision port and reports what the camera sees", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aide-vision-job-"));
    const model = writeYoloModel(join(dir, "scene.onnx"), SCENE);
    const frames = join(dir, "frames");
    drawFrames(frames, Array(30).fill(halves(true, true)));
    const group = voiceAgentJob(agentArgs({
      agentDir: join(REPO, "agent"), nodeBinary: process.execPath, tsNodeRegister: require.resolve("ts-node/register/transpile-only"),
      modelsDir: dir, vision: { source: `images:${frames}`, model, memoryMB: 600, cpuMHz: 1000 },
    })).Job.TaskGroups[0];
    const vision = group.Tasks.find((t) => t.Name === "vision")!;
    const agent = group.Tasks.find((t) => t.Name === "agent")!;
    const port = await freePort();
    const ports = { http: { ip: "127.0.0.1", port: await freePort() }, vision: { ip: "127.0.0.1", port } };
    // the agent is told where to ask
    expect(prepareTask(agent, { ports }).env.AIDE_VISION_URL).toBe(`http://127.0.0.1:${port}`);
    task = runTask(prepareTask(vision, { ports }));
    await waitFor("detector answering", () => httpOk(`http://127.0.0.1:${port}/health`), 90_000, task);
    await waitFor("two people and a cup seen", async () => {
      const obs = await (await fetch(`http://127.0.0.1:${port}/observation`)).text();
      return obs.includes("two people and a cup");
    }, 60_000, task);
  });
});
