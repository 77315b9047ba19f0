/**
 * The proof of compatibility: real Chromium runs Aide's page, which uses pipecat's own
 * client (@pipecat-ai/client-js + websocket-transport) against Aide's agent. The fake
 * microphone plays a WAV made by espeak-ng: a question, then — while the bot answers —
 * a barge-in. Real Silero VAD, real sherpa-onnx STT (generated fixed-phrase model),
 * real espeak-ng TTS; only the brain is a scripted stand-in (the LLM is tested elsewhere).
 *
 * @needs chromium
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Browser } from "playwright-core";
import { launchChromium } from "./chromium";
import { Direction, Frame, FrameProcessor, frame } from "../../src/pipeline";
import { voicePipeline } from "../../src/processors";
import { SileroVad } from "../../src/services/vad";
import { createSpeechToText } from "../../src/services/stt";
import { createTextToSpeech } from "../../src/services/tts";
import { AgentServer, startAgentServer } from "../../src/transport";
import { pageAssets } from "../../src/web";
import { ensureTinySpeechModels } from "../../../scripts/models/tiny-speech";
import { makeSpeech, testOutputDir, writeWav } from "../vad/espeak-speech";

const LONG_ANSWER =
  "Let me tell you a long story about the old computers in your basement. " +
  "They were built more than fifteen years ago, and they still have plenty of life in them. " +
  "Each one has two cores, eight gigabytes of memory, and a spinning disk. " +
  "Together they can run a language model that answers your questions in your own home. " +
  "Nothing you say leaves the house, and nothing depends on a company in another country.";

/** Answers the first question with a long text, streamed word by word; later turns get nothing. */
class ScriptedBrain extends FrameProcessor {
  readonly heard: string[] = [];
  answered = 0;
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "upstream" && f.type === "bot-spoken-text") this.heard.push(f.text);
    if (!(direction === "downstream" && f.type === "transcription" && f.final)) return this.push(f, direction);
    if (this.answered++ > 0) return;
    const signal = this.signal;
    // A moment of thought, as a real LLM takes: long enough for the page to show it.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    if (signal.aborted) return;
    this.push(frame("llm-response-start", { turnId: f.turnId }));
    for (const word of LONG_ANSWER.split(" ")) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (signal.aborted) return;
      this.push(frame("llm-text", { text: word + " " }));
    }
    this.push(frame("llm-response-end", { turnId: f.turnId }));
  }
}

type PageHistory = { levels: Array<[number, number]>; events: Array<[number, string]> };

describe("the web page in real Chromium, using pipecat's client", () => {
  let server: AgentServer;
  let browser: Browser | undefined;
  const brains: ScriptedBrain[] = [];
  const out = testOutputDir("browser");
  const wav = path.join(out, "question-then-barge-in.wav");

  beforeAll(async () => {
    const question = makeSpeech("Hello Aide, what can you see?", 1000, 4500);
    const bargeIn = makeSpeech("Stop, stop. Please stop talking now.", 0, 25000);
    const pcm = new Int16Array(question.pcm.length + bargeIn.pcm.length);
    pcm.set(question.pcm);
    pcm.set(bargeIn.pcm, question.pcm.length);
    writeWav(wav, pcm, 16000);

    const speech = await ensureTinySpeechModels();
    const stt = await createSpeechToText({ modelDir: speech.dir, numThreads: 1 });
    const tts = await createTextToSpeech({ voice: "espeak" });
    server = await startAgentServer({
      assets: await pageAssets(),
      stages: async ({ turns, bot, input, output }) => {
        const brain = new ScriptedBrain();
        brains.push(brain);
        return voicePipeline({ turns, bot, input, hearing: { vad: await SileroVad.load(), stt }, brain, tts, output });
      },
    });
    browser = await launchChromium(wav);
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await server?.close();
  });

  it("hears the question, answers out loud, shows both sides, and goes quiet within 400 ms of a barge-in", async () => {
    const page = await browser!.newPage();
    const consoleLines: string[] = [];
    page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
    page.on("response", (r) => { if (r.status() >= 400) consoleLines.push(`http ${r.status()}: ${r.url()}`); });
    try {
      await page.goto(server.url);
      await page.click("#talk"); // a real click: autoplay must work without page.evaluate's gesture
      await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Listening"), undefined, { timeout: 15_000 });
      // Each state of the turn as a person sees it, photographed as it comes.
      for (const state of ["listening", "hearing", "thinking", "speaking"]) {
        await page.waitForFunction((s) => document.body.dataset.state === s, state, { timeout: 20_000, polling: 20 });
        await page.screenshot({ path: path.join(out, `state-${state}.png`), fullPage: true });
      }

      // The full turn: the recognizer's phrase on the page, then the bot audible.
      await page.waitForSelector("#transcript p.user", { timeout: 20_000 });
      expect(await page.textContent("#transcript p.user")).toContain("what can you see");
      await page.waitForFunction(() => (window as unknown as { aide: PageHistory }).aide.events.some((e) => e[1] === "bot-started-speaking"), undefined, { timeout: 20_000 });

      // Wait for the barge-in: user-started-speaking while the bot is talking.
      await page.waitForFunction(() => {
        const events = (window as unknown as { aide: PageHistory }).aide.events;
        const botAt = events.find((e) => e[1] === "bot-started-speaking")?.[0];
        return botAt !== undefined && events.some((e) => e[1] === "user-started-speaking" && e[0] > botAt);
      }, undefined, { timeout: 20_000 });
      await page.waitForTimeout(1500);
      await page.waitForSelector("#transcript p.bot", { timeout: 5_000 });
      await page.screenshot({ path: path.join(out, "conversation.png"), fullPage: true });

      const history = await page.evaluate(() => (window as unknown as { aide: PageHistory }).aide);
      // The states in the order a person lives them: the turn, then the barge-in heard.
      const states = history.events.filter((e) => e[1].startsWith("state:")).map((e) => e[1].slice(6));
      expect(states.slice(0, 5)).toEqual(["connecting", "listening", "hearing", "thinking", "speaking"]);
      expect(states.slice(5)).toContain("hearing");
      const botAt = history.events.find((e) => e[1] === "bot-started-speaking")![0];
      const cutAt = history.events.find((e) => e[1] === "user-started-speaking" && e[0] > botAt)![0];
      const audible = 0.005;
      const whileTalking = history.levels.filter(([t]) => t > botAt && t < cutAt);
      const loudest = Math.max(...whileTalking.map(([, l]) => l));
      expect(loudest).toBeGreaterThan(audible * 4);
      // Quiet = no audible level from some moment on, through the rest of the recording.
      const after = history.levels.filter(([t]) => t >= cutAt);
      let lastLoud = cutAt;
      for (const [t, l] of after) if (l > audible) lastLoud = t;
      const quietAfterMs = lastLoud - cutAt;
      fs.writeFileSync(path.join(out, "barge-in.json"), JSON.stringify({ botAt, cutAt, quietAfterMs, loudest, history }, null, 1));
      expect(after[after.length - 1][0] - lastLoud).toBeGreaterThan(800);
      expect(quietAfterMs).toBeLessThanOrEqual(400);

      // The transcript shows what the bot said, and history kept only the heard words.
      const botText = (await page.textContent("#transcript p.bot")) ?? "";
      expect(botText.length).toBeGreaterThan(10);
      const brain = brains[brains.length - 1];
      const heard = brain.heard.join(" ");
      expect(heard.length).toBeGreaterThan(10);
      expect(heard.length).toBeLessThan(LONG_ANSWER.length * 0.9);
      expect(LONG_ANSWER.replace(/\s+/g, " ")).toContain(brain.heard[0].trim());
    } catch (error) {
      await page.screenshot({ path: path.join(out, "failure.png"), fullPage: true }).catch(() => {});
      const history = await page.evaluate(() => (window as unknown as { aide: PageHistory }).aide).catch(() => undefined);
      fs.writeFileSync(path.join(out, "failure.json"), JSON.stringify({ consoleLines, history }, null, 1));
      throw new Error(`${(error as Error).message}\n--- page console ---\n${consoleLines.slice(-40).join("\n")}`);
    } finally {
      await page.close();
    }
  }, 120_000);

  it("says the connection is lost when the agent goes away, and offers to reconnect", async () => {
    const page = await browser!.newPage();
    try {
      await page.goto(server.url);
      await page.click("#talk");
      await page.waitForFunction(() => document.body.dataset.state === "listening", undefined, { timeout: 15_000 });
      await server.close();
      await page.waitForFunction(() => document.body.dataset.state === "lost", undefined, { timeout: 15_000 });
      expect(await page.textContent("#status")).toBe("Connection lost. Press Reconnect to try again.");
      expect(await page.textContent("#talk")).toBe("Reconnect");
      expect(await page.isEnabled("#talk")).toBe(true);
      await page.screenshot({ path: path.join(out, "state-lost.png"), fullPage: true });
    } finally {
      await page.close();
    }
  }, 60_000);
});
