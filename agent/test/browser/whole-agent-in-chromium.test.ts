/**
 * Everything `npm start` assembles — Silero VAD, sherpa-onnx STT (generated model),
 * TwinService against a real llama-server (generated tiny model), espeak-ng — talked to
 * from real Chromium through pipecat's client. The answer is nonsense (tiny model); what
 * is checked is that a spoken question gets a spoken answer and the page shows the
 * turn's latency figures (seed §9.2).
 *
 * @needs chromium
 */
import * as path from "node:path";
import { Browser } from "playwright-core";
import { defaultConfig } from "../../src/config";
import { RunningAgent, startVoiceAgent } from "../../src/main";
import { RunningProcess, freePort, startLlamaServer } from "../../../lib/llama";
import { ensureTinyChatModel } from "../../../scripts/models/tiny";
import { ensureTinySpeechModels } from "../../../scripts/models/tiny-speech";
import { makeSpeech, testOutputDir, writeWav } from "../vad/espeak-speech";
import { launchChromium } from "./chromium";

describe("the assembled agent in real Chromium", () => {
  let llama: RunningProcess | undefined;
  let agent: RunningAgent | undefined;
  let browser: Browser | undefined;
  const out = testOutputDir("browser");

  beforeAll(async () => {
    const wav = path.join(out, "question-for-the-whole-agent.wav");
    writeWav(wav, makeSpeech("What time is it?", 800, 25000).pcm, 16000);
    llama = await startLlamaServer({ model: await ensureTinyChatModel(), threads: 1, port: await freePort(), parallel: 1, ctxSize: 1024 });
    const speech = await ensureTinySpeechModels();
    agent = await startVoiceAgent({
      ...defaultConfig(),
      host: "127.0.0.1", port: 0, llmUrl: llama.url, modelsDir: speech.dir, ttsVoice: "espeak", sttThreads: 1, llmMaxTokens: 10,
    }, () => {});
    browser = await launchChromium(wav);
  }, 180_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await agent?.close();
    await llama?.stop();
  });

  it("answers a spoken question out loud and shows the turn's latency figures", async () => {
    const page = await browser!.newPage();
    try {
      await page.goto(agent!.url);
      await page.click("#talk");
      await page.waitForSelector("#transcript p.bot", { timeout: 60_000 });
      await page.waitForFunction(() => /Total Pipeline Latency: \d+\.\d{4}s/.test(document.getElementById("figures")?.textContent ?? ""), undefined, { timeout: 30_000 });
      const figures = (await page.textContent("#figures")) ?? "";
      expect(figures).toMatch(/STT Latency: \d+\.\d{4}s/);
      expect(figures).toMatch(/LLM Time to First Token: \d+\.\d{4}s/);
      expect(figures).toMatch(/TTS Time to First Audio: \d+\.\d{4}s/);
      const loudest = await page.evaluate(() => Math.max(...(window as unknown as { aide: { levels: Array<[number, number]> } }).aide.levels.map(([, l]) => l)));
      expect(loudest).toBeGreaterThan(0.02);
      await page.screenshot({ path: path.join(out, "whole-agent.png"), fullPage: true });
    } finally {
      await page.close();
    }
  }, 180_000);
});
