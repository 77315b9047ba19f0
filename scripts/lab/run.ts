// The cluster lab's run, in the order a reader would check it: the models, the emulated
// nodes, the calibration (printed with every run), what each stand-in costs there next to
// the real model's published figure, then each placement's conversation, the timeline
// picture, and the summary lines.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { concatPcm } from "../../agent/src/pipeline";
import { EspeakVoice, resample } from "../../agent/src/services/tts";
import { VAD_SAMPLE_RATE } from "../../agent/src/services/vad";
import { readManifest, writeManifest } from "../../agent/src/models/manifest";
import { readModelFacts } from "../../infra/model-facts";
import { ensureStandIn, whitespaceTokenIds } from "../models/standins";
import { ensureFullCostSpeechModels } from "../models/standin-speech";
import { ensurePiperMediumCostVoice } from "../models/standin-voice";
import { ensureWebcamVideo, ensureYoloCostModel } from "../models/vision-standin";
import { calibrate, calibrationNote, describeCalibration, labThreads, type Calibration } from "./calibration";
import { createLabCluster, type LabCluster, type LabNode } from "./cluster";
import type { ConversationResult, ConversationScript, ScriptTurn } from "./conversation";
import type { TapRecord } from "./llm-tap";
import { readGgufHeader } from "../models/gguf/reader";
import { CONVERSATION, LAB_PHRASE } from "./lines";
import { PHONE, PLACEMENTS, startPlacement, type LabModels, type Placement } from "./placements";
import { dominantStage, EMULATED, formatPlacement, laterTurns, percentile, summaryLine, turnFigures, type NodeCpu, type PlacementReport } from "./report";
import { standInCosts } from "./standin-costs";
import { timelineSvg, turnRows, type TimelinePanel } from "./timeline-svg";

export interface LabRunOptions {
  placements?: string[];
  turns?: number;
  /** Skip calibration and use this node budget (cores of this machine). */
  nodeBudget?: number;
  out: string;
  log: (line: string) => void;
}

const NODES = ["n1", "n2", "n3"];
const MACHINE_CORES = cpus().length;
const LINK_RATE = "1gbit";
const TS_NODE = require.resolve("ts-node/register/transpile-only");

async function labModels(scratch: string, log: (line: string) => void): Promise<LabModels> {
  const started = Date.now();
  const llm = await ensureStandIn("qwen2.5-1.5b", log);
  const embeddings = await ensureStandIn("minilm-l6", log);
  const stt = await ensureFullCostSpeechModels(LAB_PHRASE);
  const voice = await ensurePiperMediumCostVoice();
  const speechDir = labSpeechDir(join(scratch, "speech"), [stt.dir, voice.dir]);
  const yolo = ensureYoloCostModel(640).path;
  const video = ensureWebcamVideo();
  const llmFacts = readModelFacts(llm);
  const whitespaceIds = join(scratch, "whitespace-token-ids.json");
  writeFileSync(whitespaceIds, JSON.stringify(whitespaceTokenIds(readGgufHeader(llm).metadata["tokenizer.ggml.tokens"].value as string[])));
  log(`models ready in ${((Date.now() - started) / 1000).toFixed(0)} s: LLM ${llm}, embeddings ${embeddings}, speech ${speechDir} (STT says "${LAB_PHRASE}" for any speech)`);
  return { llm, llmFacts, embeddings, speechDir, yolo, video, whitespaceIds };
}

/** One model directory with the role folders and manifest entries of `sources`, as
 * `npm run models -- download` would leave it (the role folders are links). */
export function labSpeechDir(dir: string, sources: string[]): string {
  mkdirSync(dir, { recursive: true });
  for (const source of sources) {
    for (const role of ["stt", "tts"]) if (existsSync(join(source, role))) symlinkSync(join(source, role), join(dir, role));
  }
  writeManifest(dir, { version: 1, models: sources.flatMap((source) => readManifest(source).models) });
  return dir;
}

/** Speech without espeak-ng's own leading and trailing silence, so "the user stopped
 * speaking" is the last audible sample, not the end of a quiet tail. */
export function trimSilence(pcm: Int16Array): Int16Array {
  let peak = 0;
  for (const v of pcm) peak = Math.max(peak, Math.abs(v));
  const floor = peak * 0.02;
  let a = 0;
  let b = pcm.length;
  while (a < b && Math.abs(pcm[a]) <= floor) a++;
  while (b > a && Math.abs(pcm[b - 1]) <= floor) b--;
  return pcm.subarray(a, b);
}

/** The conversation's lines as 16 kHz speech (espeak-ng), once per run. */
export async function speechFiles(dir: string, lines: string[]): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const voice = new EspeakVoice();
  const files: string[] = [];
  for (const [i, line] of lines.entries()) {
    const parts: Int16Array[] = [];
    for await (const chunk of voice.speak(line)) parts.push(chunk);
    const pcm = trimSilence(resample(concatPcm(parts), voice.nativeRate, VAD_SAMPLE_RATE));
    const file = join(dir, `line-${i + 1}.raw`);
    writeFileSync(file, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    files.push(file);
  }
  return files;
}

/** Every 500 ms, each node's CPU seconds: the report's per-node use over a conversation,
 * and how often the nodes together wanted more than this machine has. */
function cpuSampler(lab: LabCluster, nodes: LabNode[]) {
  const samples: { at: number; cpu: number[] }[] = [];
  const take = () => samples.push({ at: Date.now(), cpu: nodes.map((n) => lab.cpuSeconds(n)) });
  take();
  const timer = setInterval(take, 500);
  const inside = (from: number, to: number) => {
    const s = samples.filter((x) => x.at >= from && x.at <= to);
    return s.length >= 2 ? s : samples;
  };
  return {
    stop: () => { clearInterval(timer); take(); },
    between(from: number, to: number): number[] {
      const s = inside(from, to);
      return nodes.map((_, i) => s[s.length - 1].cpu[i] - s[0].cpu[i]);
    },
    /** Share of the half-seconds in which the nodes together used ≥ 95 % of the machine. */
    saturated(from: number, to: number): number {
      const s = inside(from, to);
      let busy = 0;
      for (let k = 1; k < s.length; k++) {
        const used = s[k].cpu.reduce((a, c, i) => a + c - s[k - 1].cpu[i], 0) / ((s[k].at - s[k - 1].at) / 1000);
        if (used >= 0.95 * MACHINE_CORES) busy++;
      }
      return s.length > 1 ? busy / (s.length - 1) : 0;
    },
  };
}

export function runConversation(lab: LabCluster, script: ConversationScript, dir: string, log: (line: string) => void): Promise<ConversationResult> {
  const scriptFile = join(dir, "script.json");
  const resultFile = join(dir, "result.json");
  writeFileSync(scriptFile, JSON.stringify(script));
  const phone = lab.node(PHONE);
  const proc = lab.spawn(phone, [process.execPath, "-r", TS_NODE, join(__dirname, "conversation.ts"), scriptFile, resultFile]);
  let shown = 0;
  const timer = setInterval(() => {
    const lines = proc.log().split("\n");
    for (const l of lines.slice(shown, -1)) log(`    ${l}`);
    shown = Math.max(shown, lines.length - 1);
  }, 1000);
  return proc.exited.then((code) => {
    clearInterval(timer);
    for (const l of proc.log().split("\n").slice(shown)) if (l.trim()) log(`    ${l}`);
    if (code !== 0 || !existsSync(resultFile)) throw new Error(`the conversation ended with ${code}: ${proc.log().slice(-1500)}`);
    return JSON.parse(readFileSync(resultFile, "utf8")) as ConversationResult;
  });
}

function readTap(file: string): TapRecord[] {
  if (!existsSync(file)) return [];
  // In order of asking (a record is written when its completion ends and its token counts are in).
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as TapRecord).sort((a, b) => a.asked - b.asked);
}

export async function runLab(o: LabRunOptions): Promise<void> {
  const { log } = o;
  const chosen: Placement[] = o.placements ? o.placements.map((name) => {
    const p = PLACEMENTS.find((x) => x.name === name);
    if (!p) throw new Error(`unknown placement '${name}': choose from ${PLACEMENTS.map((x) => x.name).join(", ")}`);
    return p;
  }) : PLACEMENTS.filter((p) => !p.optIn);
  const runStarted = Date.now();
  const scratch = join(o.out, "run");
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  log(`bench:cluster — ${chosen.length} placement(s), every figure ${EMULATED}; results and picture in ${o.out}`);
  const models = await labModels(scratch, log);
  const script = CONVERSATION.slice(0, o.turns ?? CONVERSATION.length);
  const pcm = await speechFiles(join(scratch, "speech-lines"), script.map((t) => t.line));

  const lab = await createLabCluster([...NODES.map((name) => ({ name, cpuBudget: 1 })), { name: PHONE, cpuBudget: 2 }], { prefix: "aidebc", linkRate: LINK_RATE });
  try {
    const nodes = NODES.map((n) => lab.node(n));
    log(`emulated cluster: ${NODES.join(", ")} + ${PHONE} (the household's phone and the lab's LLM tap, no budget) on a ${LINK_RATE}/s shaped bridge (tbf on each veth; no added latency: a LAN's ~0.2 ms is modelled as none)`);

    // Calibration, on n1 before anything else runs.
    let calibration: Calibration;
    if (o.nodeBudget !== undefined) {
      calibration = { quadBudget: o.nodeBudget * 2, nodeBudget: o.nodeBudget, runs: [], crossCheck: { model: "(skipped: --node-budget given)", budget: o.nodeBudget, threads: labThreads(o.nodeBudget), tokS: NaN, profile: "sse2", published: NaN, ratio: NaN, ok: false } };
      log(`calibration skipped: --node-budget ${o.nodeBudget} given (not calibrated in this run)`);
    } else {
      const calib = { calibration: await ensureStandIn("llama-3.2-3b", log), crossCheck: await ensureStandIn("tinyllama-1.1b", log) };
      calibration = await calibrate({
        models: calib,
        maxBudget: 2,
        log,
        withBudget: async (budget, fn) => {
          lab.setBudget(nodes[0], budget);
          return fn(["ip", "netns", "exec", nodes[0].ns, ...lab.wrapper(nodes[0])]);
        },
      });
    }
    const calibrationLines = describeCalibration(calibration);
    for (const l of calibrationLines) log(l);
    for (const n of nodes) lab.setBudget(n, calibration.nodeBudget);
    const note = calibrationNote(calibration);

    for (const line of await standInCosts({ lab, node: nodes[0], models, tsNode: TS_NODE })) log(line);

    const reports: PlacementReport[] = [];
    const placementNodes: Record<string, { agent: string; llm: string[] }> = {};
    for (const p of chosen) {
      log("");
      log(`placement ${p.name}: ${p.describe}`);
      const dir = join(scratch, p.name);
      mkdirSync(dir, { recursive: true });
      const started = await startPlacement(p, lab, models, dir, log);
      const sampler = cpuSampler(lab, [...nodes, lab.node(PHONE)]);
      let conversation: ConversationResult;
      try {
        const turns: ScriptTurn[] = script.map((t, i) => ({ ...t, pcmFile: pcm[i] }));
        conversation = await runConversation(lab, {
          wsUrl: started.wsUrl,
          forceToolUrl: started.forceToolUrl,
          turns,
          pauseMs: 800,
          bargeInAfterMs: 1500,
          turnTimeoutMs: 8 * 60_000,
        }, dir, log);
      } finally {
        sampler.stop();
        await started.stop();
      }
      const llm = readTap(started.tapLog);
      const used = sampler.between(conversation.startedAt, conversation.endedAt);
      const wall = (conversation.endedAt - conversation.startedAt) / 1000;
      const cpu: NodeCpu[] = nodes.map((n, i) => ({ node: n.name, budget: n.budget, cpuSeconds: used[i], wallSeconds: wall, role: started.roles[n.name] ?? "idle" }));
      const saturated = sampler.saturated(conversation.startedAt, conversation.endedAt);
      const report: PlacementReport = { name: p.name, describe: p.describe, turns: turnFigures(conversation, llm), cpu, llm, conversation, saturated };
      placementNodes[p.name] = { agent: p.agent, llm: started.llmNodes };
      reports.push(report);
      writeFileSync(join(o.out, `${p.name}.json`), JSON.stringify({ report, calibration, nodes: placementNodes[p.name], lines: script.map((t) => t.line) } satisfies SavedPlacement));
      log(formatPlacement(report, note));
      log(`  the wait is dominated by ${dominantStage(report)}`);
    }

    log("");
    printClosing(reports, placementNodes, script.map((t) => t.line), calibration, o.out, log);
    log(`raw results: ${o.out}/<placement>.json (npm run bench:cluster -- --report ${o.out} prints this again); the run took ${((Date.now() - runStarted) / 60000).toFixed(1)} min`);
    for (const r of reports) log(summaryLine(r));
  } finally {
    await lab.teardown();
  }
}

interface SavedPlacement {
  report: PlacementReport;
  calibration: Calibration;
  nodes: { agent: string; llm: string[] };
  lines: string[];
}

/** The calibration again, the timeline picture of one turn in every placement, its path. */
function printClosing(reports: PlacementReport[], placementNodes: Record<string, { agent: string; llm: string[] }>, lines: string[], calibration: Calibration, out: string, log: (line: string) => void): void {
  const note = calibrationNote(calibration);
  // The picture: the same turn (the median later turn of the first placement) in each placement.
  const ref = reports[0];
  const candidates = laterTurns(ref.turns).filter((t) => t.voiceToVoice !== undefined && t.kind === "spoken");
  const median = percentile(candidates.map((t) => t.voiceToVoice!), 50);
  const pick = candidates.find((t) => t.voiceToVoice === median)?.index ?? 1;
  const panels: TimelinePanel[] = reports.map((r) => {
    const turn = r.conversation.turns[pick];
    const next = r.conversation.turns[pick + 1]?.speechStart ?? Number.POSITIVE_INFINITY;
    const llm = r.llm.filter((x) => !x.warm && x.asked >= turn.speechEnd && x.asked < next);
    return { title: `${r.name}: ${r.describe}`, rows: turnRows(turn, llm, placementNodes[r.name]), wait: r.turns[pick]?.voiceToVoice };
  });
  const svg = join(out, "timeline.svg");
  writeFileSync(svg, timelineSvg(`Turn ${pick + 1} ("${lines[pick]}") — ${EMULATED}`, panels, `${note}. Bars from the phone's clock, the agent's marks and the LLM tap (one machine, one clock).`));
  log("calibration (again, beside the figures):");
  for (const l of describeCalibration(calibration)) log(l);
  log(`timeline of one turn: ${svg}`);
}

/** Prints a finished run's report again from its saved results (figures recomputed). */
export function reportFrom(dir: string, log: (line: string) => void): void {
  const saved = readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as SavedPlacement)
    .filter((s) => s.report?.conversation)
    .sort((a, b) => a.report.conversation.startedAt - b.report.conversation.startedAt);
  if (!saved.length) throw new Error(`no bench:cluster results in ${dir} (<placement>.json)`);
  const reports = saved.map((s) => ({ ...s.report, turns: turnFigures(s.report.conversation, s.report.llm) }));
  const note = calibrationNote(saved[0].calibration);
  for (const r of reports) {
    log(formatPlacement(r, note));
    log(`  the wait is dominated by ${dominantStage(r)}`);
    log("");
  }
  printClosing(reports, Object.fromEntries(saved.map((s) => [s.report.name, s.nodes])), saved[0].lines, saved[0].calibration, dir, log);
  for (const r of reports) log(summaryLine(r));
}
