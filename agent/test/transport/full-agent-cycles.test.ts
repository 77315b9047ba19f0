/**
 * 200 connect/disconnect cycles against the whole assembled agent (a Silero state, an
 * STT/TTS stage and a TwinService per session), half of them vanishing while their
 * microphone audio is being processed: open handles and heap come back to where they were.
 */
import { defaultConfig } from "../../src/config";
import { RunningAgent, startVoiceAgent } from "../../src/main";
import { ScriptedClient } from "../../src/transport";
import { ensureTinySpeechModels } from "../../../scripts/models/tiny-speech";
import { settledHeap } from "./settled-heap";

describe("the whole agent over many short visits", () => {
  let agent: RunningAgent;

  beforeAll(async () => {
    const speech = await ensureTinySpeechModels();
    agent = await startVoiceAgent({
      ...defaultConfig(), host: "127.0.0.1", port: 0, llmUrl: "http://127.0.0.1:9", modelsDir: speech.dir, ttsVoice: "espeak", sttThreads: 1,
    }, () => {});
  }, 120_000);
  afterAll(async () => { await agent?.close(); });

  async function waitForNoSessions(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (agent.server.sessions() !== 0) {
      if (Date.now() > deadline) throw new Error(`${agent.server.sessions()} sessions still open`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("leaks neither handles nor memory over 200 connect/disconnect cycles", async () => {
    const noise = new Int16Array(256).map(() => Math.round((Math.random() - 0.5) * 400));
    const cycle = async (i: number) => {
      const c = await ScriptedClient.connect(agent.wsUrl);
      await c.ready();
      if (i % 2 === 0) {
        for (let k = 0; k < 20; k++) c.sendAudio(noise);
        c.terminate(); // gone while its audio is still in the pipeline
      } else {
        c.close();
        await c.closed();
      }
    };
    for (let i = 0; i < 20; i++) await cycle(i);
    await waitForNoSessions();
    const handlesBefore = process.getActiveResourcesInfo().length;
    const heapBefore = await settledHeap(50);
    for (let i = 0; i < 200; i++) await cycle(i);
    await waitForNoSessions();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const handlesAfter = process.getActiveResourcesInfo().length;
    const heapAfter = await settledHeap(50);
    process.stdout.write(`full agent, 200 cycles: handles ${handlesBefore} -> ${handlesAfter}, heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB\n`);
    expect(handlesAfter).toBeLessThanOrEqual(handlesBefore);
    expect(heapAfter - heapBefore).toBeLessThan(3 * 1024 * 1024);
  }, 180_000);
});
