// The lab's whole path, small: the jobs' own command lines started on emulated nodes
// (the LLM on one node, the voice agent with vision and memory on another), a phone host
// playing espeak speech into the real agent — a spoken turn, a line spoken over the answer,
// a describe_scene turn forced by the tap — and the report built from what came back.
// Tiny generated models keep it to a minute; bench:cluster runs the same code with
// full-size stand-ins and a calibrated budget.
// @needs root, netns
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readModelFacts } from "../../infra/model-facts";
import { createLabCluster, type LabCluster } from "../../scripts/lab/cluster";
import { CONVERSATION } from "../../scripts/lab/lines";
import type { TapRecord } from "../../scripts/lab/llm-tap";
import { PHONE, PLACEMENTS, startPlacement, type StartedPlacement } from "../../scripts/lab/placements";
import { summaryLine, turnFigures } from "../../scripts/lab/report";
import { labSpeechDir, runConversation, speechFiles } from "../../scripts/lab/run";
import { ensureWebcamVideo } from "../../scripts/models/vision-standin";
import { demoScene, writeYoloModel } from "../../scripts/models/onnx/yolo";
import { ensureTinyChatModel, ensureTinyEmbeddingModel } from "../../scripts/models/tiny";
import { ensureTinySpeechModels } from "../../scripts/models/tiny-speech";

jest.setTimeout(600_000);

describe("the cluster lab, small", () => {
  let lab: LabCluster | undefined;
  let started: StartedPlacement | undefined;
  const scratch = mkdtempSync(join(tmpdir(), "aide-lab-smoke-"));

  afterAll(async () => {
    await started?.stop();
    await lab?.teardown();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("plays spoken, talked-over and describe_scene turns into the real agent on emulated nodes and reports each", async () => {
    const speech = await ensureTinySpeechModels();
    const speechDir = labSpeechDir(join(scratch, "speech"), [speech.dir]);
    const yolo = join(scratch, "yolo.onnx");
    writeYoloModel(yolo, demoScene(320, 0.5)); // a small one: the stand-in's cost is not what this test is about
    const video = ensureWebcamVideo();
    const llm = await ensureTinyChatModel();
    const whitespaceIds = join(scratch, "ws.json");
    writeFileSync(whitespaceIds, "[]");
    const models = { llm, llmFacts: readModelFacts(llm), embeddings: await ensureTinyEmbeddingModel(), speechDir, yolo, video, whitespaceIds };

    lab = await createLabCluster([{ name: "n1", cpuBudget: 0.8 }, { name: "n2", cpuBudget: 0.8 }, { name: "n3", cpuBudget: 0.8 }, { name: PHONE, cpuBudget: 1 }], { prefix: "aidesmk", linkRate: "1gbit" });
    const placement = PLACEMENTS.find((p) => p.name === "jobs-today")!;
    const log: string[] = [];
    started = await startPlacement(placement, lab, models, scratch, (l) => log.push(l));
    expect(started.llmNodes).toEqual(["n2"]); // the planner keeps the LLM off the agent's node
    expect(log.join("\n")).toMatch(/runs on n2 alone/);

    const turns = [CONVERSATION[0], CONVERSATION[1], { ...CONVERSATION[4], kind: "barge-in" as const }, CONVERSATION.find((t) => t.kind === "describe-scene")!];
    const pcm = await speechFiles(join(scratch, "lines"), turns.map((t) => t.line));
    const conversation = await runConversation(lab, {
      wsUrl: started.wsUrl,
      forceToolUrl: started.forceToolUrl,
      turns: turns.map((t, i) => ({ ...t, pcmFile: pcm[i] })),
      pauseMs: 500,
      bargeInAfterMs: 300,
      turnTimeoutMs: 60_000,
    }, scratch, () => undefined);
    const tap = readFileSync(started.tapLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as TapRecord);

    // Every turn was heard and answered in speech, after the user stopped.
    for (const t of conversation.turns) {
      expect(t.error).toBeUndefined();
      expect(t.transcript).toBe(speech.phrase);
      expect(t.firstAudio! - t.speechEnd).toBeGreaterThan(0);
      expect(t.report?.at?.["user-stopped-speaking"]).toBeGreaterThan(t.speechEnd);
    }
    // The line spoken over the second answer silenced it while the user talked.
    expect(conversation.turns[1].interruptedBotAudioEnd).toBeGreaterThan(conversation.turns[2].speechStart);
    // The tap saw every completion, forced exactly the describe_scene one, and has
    // llama-server's timings: the first turn evaluated the whole prompt, later ones far less.
    expect(tap.filter((r) => r.forcedTool)).toHaveLength(1);
    expect(tap[0].promptTokens!).toBeGreaterThan(100);
    expect(tap[1].promptTokens!).toBeLessThan(tap[0].promptTokens! / 2);

    const figures = turnFigures(conversation, tap);
    expect(figures[3].toolCall).toBe(true);
    for (const f of figures) expect(f.voiceToVoice).toBeGreaterThan(f.vadEnd!);
    expect(summaryLine({ name: "jobs-today", describe: "", turns: figures, cpu: [], llm: tap, conversation })).toMatch(/^bench:cluster placement=jobs-today v2v_p50_s=\d+\.\d\d /);

    await started.stop();
    started = undefined;
    await lab.teardown();
    lab = undefined;
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toMatch(/aidesmk-/);
    expect(readdirSync("/sys/fs/cgroup/cpu").filter((n) => n.startsWith("aidesmk-"))).toEqual([]);
  });
});
