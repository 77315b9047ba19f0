/**
 * Four Chromium pages talk to one agent at the same time; each session's brain answers
 * with its own name, so a page showing another session's words would be caught.
 *
 * @needs chromium
 */
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

const NAMES = ["Alpha", "Bravo", "Charlie", "Delta"];

class NamedBrain extends FrameProcessor {
  constructor(private readonly sessionName: string) {
    super("NamedBrain");
  }
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (!(direction === "downstream" && f.type === "transcription" && f.final)) return this.push(f, direction);
    this.push(frame("llm-response-start", { turnId: f.turnId }));
    this.push(frame("llm-text", { text: `This is session ${this.sessionName}.` }));
    this.push(frame("llm-response-end", { turnId: f.turnId }));
  }
}

describe("four browser sessions at once", () => {
  let server: AgentServer;
  let browser: Browser | undefined;
  let sessions = 0;
  const out = testOutputDir("browser");

  beforeAll(async () => {
    const wav = path.join(out, "one-question.wav");
    writeWav(wav, makeSpeech("Who am I talking to?", 800, 20000).pcm, 16000);
    const speech = await ensureTinySpeechModels();
    const stt = await createSpeechToText({ modelDir: speech.dir, numThreads: 1 });
    const tts = await createTextToSpeech({ voice: "espeak" });
    server = await startAgentServer({
      assets: await pageAssets(),
      stages: async ({ turns, bot, input, output }) => voicePipeline({ turns, bot, input, hearing: { vad: await SileroVad.load(), stt }, brain: new NamedBrain(NAMES[sessions++ % NAMES.length]), tts, output }),
    });
    browser = await launchChromium(wav);
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await server?.close();
  });

  it("gives every page its own answer and never another session's", async () => {
    const context = await browser!.newContext();
    const pages = [];
    try {
      // Connect one after another so session n gets brain NAMES[n].
      for (let i = 0; i < NAMES.length; i++) {
        const page = await context.newPage();
        await page.goto(server.url);
        await page.click("#talk");
        await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Listening"), undefined, { timeout: 20_000 });
        pages.push(page);
      }
      expect(server.sessions()).toBe(4);
      const texts = await Promise.all(pages.map(async (page) => {
        await page.waitForSelector("#transcript p.bot", { timeout: 40_000 });
        await page.waitForTimeout(500);
        return (await page.textContent("#transcript")) ?? "";
      }));
      await pages[3].screenshot({ path: path.join(out, "four-pages-delta.png") });
      texts.forEach((text, i) => {
        expect(text).toContain(`session ${NAMES[i]}`);
        for (const other of NAMES.filter((n) => n !== NAMES[i])) expect(text).not.toContain(other);
      });
    } finally {
      await context.close();
    }
  }, 180_000);
});
