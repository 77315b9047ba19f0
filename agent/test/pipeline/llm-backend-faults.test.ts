/**
 * The whole agent (startVoiceAgent: the same assembly `npm start` runs) against a real
 * llama-server with the generated tiny model, which the test stops and starts again.
 *
 * @slow: the whole agent against a llama-server it stops and starts (about 30 s alone)
 */
import { defaultConfig } from "../../src/config";
import { RunningAgent, startVoiceAgent } from "../../src/main";
import { ScriptedClient, RtviMessage } from "../../src/transport";
import { APOLOGY_BACKEND_DOWN } from "../../src/twin";
import { RunningProcess, freePort, startLlamaServer } from "../../../lib/llama";
import { ensureTinyChatModel } from "../../../scripts/models/tiny";
import { ensureTinySpeechModels } from "../../../scripts/models/tiny-speech";

describe("when the LLM backend is down or dies mid-answer", () => {
  let agent: RunningAgent;
  let llama: RunningProcess | undefined;
  let llamaPort: number;
  let model: string;
  const clients: ScriptedClient[] = [];

  async function startLlama(): Promise<void> {
    llama = await startLlamaServer({ model, threads: 1, port: llamaPort, parallel: 1, ctxSize: 1024, readyTimeoutMs: 60_000 });
  }

  beforeAll(async () => {
    model = await ensureTinyChatModel();
    llamaPort = await freePort();
    await startLlama();
    const speech = await ensureTinySpeechModels();
    agent = await startVoiceAgent({
      // Short answers: each is spoken in real time.
      ...defaultConfig(), host: "127.0.0.1", port: 0, llmUrl: `http://127.0.0.1:${llamaPort}`, modelsDir: speech.dir, ttsVoice: "espeak", sttThreads: 1, llmMaxTokens: 12,
    }, () => {});
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) c.terminate();
    await agent?.close();
    await llama?.stop();
  });

  /** Sends a typed turn and returns the bot's text of that turn once it has finished. */
  async function turn(client: ScriptedClient, text: string): Promise<{ llmText: string; audioMs: number }> {
    const m0 = client.messages.length;
    const a0 = client.audio.length;
    client.sendText(text);
    await client.waitForMessage((m) => m.type === "bot-llm-stopped", 60_000, m0);
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 60_000, m0);
    const llmText = client.messages.slice(m0).filter((m) => m.message.type === "bot-llm-text").map((m) => (m.message.data as { text: string }).text).join("");
    return { llmText, audioMs: client.audioMs(a0) };
  }

  it("answers, then says out loud and in text that the model is unreachable, keeps the session, and recovers", async () => {
    const client = await ScriptedClient.connect(agent.wsUrl);
    clients.push(client);
    await client.ready();

    const first = await turn(client, "Hello there");
    expect(first.llmText.length).toBeGreaterThan(0);
    expect(first.llmText).not.toContain(APOLOGY_BACKEND_DOWN);
    expect(first.audioMs).toBeGreaterThan(100);

    await llama!.stop();
    llama = undefined;
    const down = await turn(client, "Are you there?");
    expect(down.llmText).toContain(APOLOGY_BACKEND_DOWN);
    expect(down.audioMs).toBeGreaterThan(1000); // the apology is spoken, not only shown
    const health = await (await fetch(`${agent.url}health`)).json();
    expect(health.llm).toMatch(/unreachable/);
    expect(client.isOpen).toBe(true);

    await startLlama();
    const back = await turn(client, "And now?");
    expect(back.llmText).not.toContain(APOLOGY_BACKEND_DOWN);
    expect(back.llmText.length).toBeGreaterThan(0);
  }, 180_000);

  it("tells the user when the backend dies in the middle of an answer", async () => {
    const client = await ScriptedClient.connect(agent.wsUrl);
    clients.push(client);
    await client.ready();
    const m0 = client.messages.length;
    client.sendText("Tell me a long story please");
    await client.waitForMessage((m: RtviMessage) => m.type === "bot-llm-text", 60_000, m0);
    await llama!.stop(); // killed while it streams
    llama = undefined;
    await client.waitForMessage((m) => m.type === "bot-llm-stopped", 60_000, m0);
    const text = client.messages.slice(m0).filter((m) => m.message.type === "bot-llm-text").map((m) => (m.message.data as { text: string }).text).join("");
    expect(text).toContain(APOLOGY_BACKEND_DOWN);
    expect(client.isOpen).toBe(true);
    await startLlama();
    const after = await turn(client, "Hello again");
    expect(after.llmText).not.toContain(APOLOGY_BACKEND_DOWN);
  }, 180_000);
});
