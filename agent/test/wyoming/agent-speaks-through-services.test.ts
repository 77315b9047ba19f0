/**
 * The whole agent (startVoiceAgent, as `npm start` and the Nomad job run it) with
 * AIDE_STT_URL / AIDE_TTS_URL set: it hears and speaks through the Wyoming services, goes
 * on in-process when one dies (saying so once), and back through it when it returns.
 *
 * @slow: the whole agent and both Wyoming services, stopped and started again (about 35 s alone)
 */
import { defaultConfig } from "../../src/config";
import { RunningAgent, startVoiceAgent } from "../../src/main";
import { ScriptedClient } from "../../src/transport";
import { RunningWyomingServer, startSpeechService } from "../../src/wyoming";
import { ensureTinySpeechModels, TinySpeechModels } from "../../../scripts/models/tiny-speech";
import { freePort } from "../../../test/support/ports";
import { makeSpeech } from "../vad/espeak-speech";

describe("the agent with its speech on other desktops", () => {
  let models: TinySpeechModels;
  let agent: RunningAgent;
  let sttPort: number;
  let ttsPort: number;
  let stt: RunningWyomingServer | undefined;
  let tts: RunningWyomingServer | undefined;
  const lines: string[] = [];
  const served: string[] = [];

  const serve = (kind: "stt" | "tts", port: number) =>
    startSpeechService(kind, { host: "127.0.0.1", port, modelsDir: models.dir, ttsVoice: "piper", sttThreads: 1 }, (l) => served.push(l));

  beforeAll(async () => {
    models = await ensureTinySpeechModels();
    [sttPort, ttsPort] = [await freePort(), await freePort()];
    [stt, tts] = await Promise.all([serve("stt", sttPort), serve("tts", ttsPort)]);
    agent = await startVoiceAgent(
      {
        ...defaultConfig(), host: "127.0.0.1", port: 0, llmUrl: "http://127.0.0.1:9", modelsDir: models.dir, ttsVoice: "espeak", sttThreads: 1,
        sttUrl: `tcp://127.0.0.1:${sttPort}`, ttsUrl: `tcp://127.0.0.1:${ttsPort}`,
      },
      (l) => lines.push(l),
    );
  }, 120_000);
  afterAll(async () => {
    await agent?.close();
    await Promise.all([stt?.close(), tts?.close()]);
  });

  /** A typed turn; the LLM is unreachable, so the agent speaks its apology. Returns ms of audio heard. */
  async function spokenTurn(client: ScriptedClient, text: string): Promise<number> {
    const m0 = client.messages.length;
    const a0 = client.audio.length;
    client.sendText(text);
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 60_000, m0);
    return client.audioMs(a0);
  }

  /** Says `pcm` into the microphone in real time (32 ms frames); returns the transcript the page is shown. */
  async function spokenUtterance(client: ScriptedClient, pcm: Int16Array): Promise<string> {
    const m0 = client.messages.length;
    const started = performance.now();
    for (let i = 0, frame = 0; i < pcm.length; i += 512, frame++) {
      client.sendAudio(pcm.subarray(i, i + 512));
      const due = started + (frame + 1) * 32;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    const shown = await client.waitForMessage((m) => m.type === "user-transcription", 30_000, m0);
    return (shown.data as { text: string }).text;
  }

  it("hears through the recognition service, and in-process while it is down, saying so once", async () => {
    const client = await ScriptedClient.connect(agent.wsUrl);
    try {
      await client.ready();
      const question = makeSpeech("Hello Aide, what can you see?", 300, 1200).pcm;
      expect(await spokenUtterance(client, question)).toBe(models.phrase);
      expect(lines.filter((l) => /^speech recognition: .* is unavailable/.test(l))).toHaveLength(0);
      await stt!.close();
      stt = undefined;
      expect(await spokenUtterance(client, question)).toBe(models.phrase);
      expect(await spokenUtterance(client, question)).toBe(models.phrase);
      expect(lines.filter((l) => /^speech recognition: .* is unavailable/.test(l))).toHaveLength(1);
    } finally {
      client.terminate();
    }
  }, 120_000);

  it("says at start which services it uses, and speaks through the voice service, in-process while it is down, and through it again", async () => {
    expect(lines).toContain(`speech recognition: using the Wyoming service at tcp://127.0.0.1:${sttPort} (${models.stt.name})`);
    expect(lines).toContain(`voice: using the Wyoming service at tcp://127.0.0.1:${ttsPort} (${models.tts.name})`);
    const health = await (await fetch(`${agent.url}health`)).json();
    expect(health.voice).toBe(`${models.tts.name} at tcp://127.0.0.1:${ttsPort}`);

    const client = await ScriptedClient.connect(agent.wsUrl);
    try {
      await client.ready();
      expect(await spokenTurn(client, "Hello there")).toBeGreaterThan(500);

      await tts!.close();
      tts = undefined;
      expect(await spokenTurn(client, "Are you there?")).toBeGreaterThan(500); // espeak-ng, in-process
      expect(await spokenTurn(client, "Still there?")).toBeGreaterThan(500);
      expect(lines.filter((l) => /^voice: .* is unavailable/.test(l))).toHaveLength(1);
      expect((await (await fetch(`${agent.url}health`)).json()).voice).toBe(`${models.tts.name} at tcp://127.0.0.1:${ttsPort} (down)`);

      tts = await serve("tts", ttsPort);
      const deadline = Date.now() + 10_000;
      while (!lines.some((l) => /^voice: .* is back \(/.test(l))) {
        if (Date.now() > deadline) throw new Error(`the agent did not notice the voice service is back:\n${lines.join("\n")}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await spokenTurn(client, "And now?")).toBeGreaterThan(500);
      expect(lines.filter((l) => /^voice: .* is unavailable/.test(l))).toHaveLength(1); // it answered: not down again
      expect(client.isOpen).toBe(true);
    } finally {
      client.terminate();
    }
  }, 120_000);
});
