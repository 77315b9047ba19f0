import { AgentServer, ScriptedClient, startAgentServer } from "../../src/transport";
import { Frame } from "../../src/pipeline";
import { ClauseBot, ToneBot, UpstreamRecorder } from "./tone-bot";

describe("talking to the agent over pipecat's WebSocket protocol", () => {
  let server: AgentServer;
  const recorders: UpstreamRecorder[] = [];
  const clients: ScriptedClient[] = [];

  beforeAll(async () => {
    server = await startAgentServer({
      stages: ({ input, output }) => {
        const recorder = new UpstreamRecorder();
        recorders.push(recorder);
        return [input, recorder, new ToneBot(1000, 25), output];
      },
    });
  });
  afterEach(() => { for (const c of clients.splice(0)) c.terminate(); });
  afterAll(async () => { await server.close(); });

  async function connect(): Promise<ScriptedClient> {
    const client = await ScriptedClient.connect(server.wsUrl);
    clients.push(client);
    return client;
  }

  it("answers client-ready with bot-ready carrying the same id and protocol 2.1.0", async () => {
    const client = await connect();
    const reply = await client.ready();
    expect(reply).toMatchObject({ label: "rtvi-ai", type: "bot-ready", data: { version: "2.1.0" } });
  });

  it("sends the reply's audio in real time, never more than its 80 ms lead ahead of playback", async () => {
    const client = await connect();
    await client.ready();
    client.sendText("hello");
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 5000);
    expect(client.audioMs()).toBeCloseTo(1000, 0); // 25 chunks × 40 ms
    const start = client.audio[0].at;
    let sentMs = 0;
    let worstLead = 0;
    for (const a of client.audio) {
      worstLead = Math.max(worstLead, sentMs - (a.at - start));
      sentMs += (a.pcm.length * 1000) / 24000;
    }
    expect(worstLead).toBeLessThanOrEqual(80 + 15); // the default lead, plus timer slack
    expect(client.audio[client.audio.length - 1].at - start).toBeGreaterThan(850);
    const types = client.messages.map((m) => m.message.type);
    expect(types).toEqual(expect.arrayContaining(["user-transcription", "bot-llm-started", "bot-started-speaking", "bot-output", "bot-stopped-speaking"]));
  });

  it("stops the old answer at once when the user barges in, and keeps only the heard words", async () => {
    const client = await connect();
    await client.ready();
    const recorder = recorders[recorders.length - 1];
    client.sendText("first question");
    await client.waitFor(() => client.audioMs() >= 300, 3000, "300 ms of the first answer");
    client.sendText("second question");
    const cutAt = performance.now();
    await client.waitFor(() => client.audio.some((a) => a.pcm[0] === 1002), 3000, "the second answer");
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 5000, client.messages.length);
    const stale = client.audio.filter((a) => a.pcm[0] === 1001 && a.at > cutAt + 5);
    expect(stale).toEqual([]);
    const firstAnswerMs = client.audio.filter((a) => a.pcm[0] === 1001).reduce((ms, a) => ms + (a.pcm.length * 1000) / 24000, 0);
    expect(firstAnswerMs).toBeLessThan(600);
    const spoken = recorder.frames.filter((f): f is Extract<Frame, { type: "bot-spoken-text" }> => f.type === "bot-spoken-text");
    // One word per 40 ms chunk: what reached history is what was sent, give or take the chunk in flight.
    const firstAnswerWords = spoken.length - 25;
    expect(Math.abs(firstAnswerWords - Math.floor(firstAnswerMs / 40))).toBeLessThanOrEqual(1);
  });

  it("serves /health with the number of open sessions", async () => {
    const client = await connect();
    await client.ready();
    const health = await (await fetch(server.url + "health")).json();
    expect(health).toMatchObject({ status: "ok" });
    expect(health.sessions).toBeGreaterThanOrEqual(1);
  });
});

describe("typed turns and cut clauses", () => {
  it("answers only the last of 300 typed messages sent in a burst: each new turn supersedes the one in flight", async () => {
    let answersBegun = 0;
    class CountingBot extends ToneBot {
      protected async process(f: Frame, direction: "downstream" | "upstream"): Promise<void> {
        if (f.type === "transcription" && direction === "downstream") answersBegun++;
        return super.process(f, direction);
      }
    }
    // 50 ms to each word, as an LLM thinking: the whole burst is in before any audio.
    const server = await startAgentServer({ stages: ({ input, output }) => [input, new CountingBot(1000, 25, 50), output] });
    try {
      const client = await ScriptedClient.connect(server.wsUrl);
      await client.ready();
      for (let i = 1; i <= 300; i++) client.sendText(`question ${i}`);
      await client.waitFor(() => client.audio.some((a) => a.pcm[0] === 1300), 5000, "the answer to the 300th");
      await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 5000, client.messages.length);
      expect(answersBegun).toBeLessThan(10);
      const turnsHeard = new Set(client.audio.map((a) => a.pcm[0]));
      expect(turnsHeard.size).toBeLessThan(5);
      expect(client.audioMs()).toBeLessThan(2 * 1000);
      client.close();
    } finally {
      await server.close();
    }
  });

  it("keeps the heard words of a clause cut partway, on the page and upstream for history", async () => {
    const recorders: UpstreamRecorder[] = [];
    const server = await startAgentServer({ stages: ({ input, output }) => { const r = new UpstreamRecorder(); recorders.push(r); return [input, r, new ClauseBot(1000), output]; } });
    try {
      const client = await ScriptedClient.connect(server.wsUrl);
      await client.ready();
      client.sendText("first"); // heard whole: the voice's rate is measured on it
      await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 5000);
      client.sendText("second");
      const turnStart = client.audio.length;
      await client.waitFor(() => client.audioMs(turnStart) >= 460, 3000, "460 ms of the second answer");
      client.sendText("stop there");
      await client.waitFor(() => client.audio.some((a) => a.pcm[0] === 1003), 3000, "the third answer");
      const sentMs = client.audio.filter((a) => a.pcm[0] === 1002).reduce((ms, a) => ms + (a.pcm.length * 1000) / 24000, 0);
      const partial = recorders[0].frames.find((f): f is Extract<Frame, { type: "bot-spoken-text" }> => f.type === "bot-spoken-text" && f.partial === true);
      // 120 ms a word: the words the sent audio covers, within one word.
      const words = partial?.text.split(" ") ?? [];
      expect(Math.abs(words.length - Math.floor(sentMs / 120))).toBeLessThanOrEqual(1);
      expect(ClauseBot.CLAUSES[0].startsWith(partial!.text)).toBe(true);
      const pageLines = client.messages.filter((m) => m.message.type === "bot-output").map((m) => (m.message.data as { text: string }).text);
      expect(pageLines).toContain(partial!.text);
      client.close();
    } finally {
      await server.close();
    }
  });
});
