import { AgentServer, ScriptedClient, startAgentServer } from "../../src/transport";
import { ToneBot } from "./tone-bot";
import { settledHeap } from "./settled-heap";

describe("several people talking to one agent", () => {
  let server: AgentServer;
  let voices = 0;
  /** Every session's stage, weakly: a leaked session keeps its stage reachable. */
  const stagesMade: Array<WeakRef<ToneBot>> = [];

  beforeAll(async () => {
    // Each session's bot has its own voice (sample value), so crossed wires would show.
    server = await startAgentServer({ stages: () => {
      const bot = new ToneBot(1000 * ++voices, 15);
      stagesMade.push(new WeakRef(bot));
      return [bot];
    }, maxSessions: 8 });
  });
  afterAll(async () => { await server.close(); });

  it("gives four simultaneous sessions their own answers, never each other's", async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => ScriptedClient.connect(server.wsUrl)));
    try {
      await Promise.all(clients.map((c) => c.ready()));
      for (const c of clients) c.sendText("what do you hear");
      await Promise.all(clients.map((c) => c.waitForMessage((m) => m.type === "bot-stopped-speaking", 5000)));
      const voicesHeard = clients.map((c) => new Set(c.audio.map((a) => Math.floor(a.pcm[0] / 1000))));
      for (const heard of voicesHeard) expect(heard.size).toBe(1);
      expect(new Set(voicesHeard.map((h) => [...h][0])).size).toBe(4);
      for (const c of clients) expect(c.audioMs()).toBeCloseTo(600, 0);
    } finally {
      for (const c of clients) c.terminate();
    }
  });

  it("refuses sessions past the limit with a reason instead of falling over", async () => {
    const clients = await Promise.all(Array.from({ length: 9 }, () => ScriptedClient.connect(server.wsUrl)));
    try {
      const refused = await clients[8].closed(3000);
      expect(refused).toBe(1013);
      expect(clients[8].closeReason).toMatch(/limit of 8 sessions/);
    } finally {
      for (const c of clients) c.terminate();
    }
  });

  it("leaks neither handles nor memory over 200 connect/disconnect cycles", async () => {
    const cycle = async (i: number) => {
      const c = await ScriptedClient.connect(server.wsUrl);
      await c.ready();
      if (i % 2 === 0) {
        c.sendText("hi");
        await c.waitFor(() => c.audio.length > 0, 3000, "audio");
        c.terminate(); // vanish mid-answer
      } else {
        c.close();
        await c.closed();
      }
    };
    for (let i = 0; i < 20; i++) await cycle(i); // warm up caches and JIT
    await waitForSessions(0);
    const handlesBefore = process.getActiveResourcesInfo().length;
    const heapBefore = await settledHeap();
    for (let i = 0; i < 200; i++) await cycle(i);
    await waitForSessions(0);
    await new Promise((resolve) => setTimeout(resolve, 400)); // stop timers of vanished sessions
    const handlesAfter = process.getActiveResourcesInfo().length;
    const heapAfter = await settledHeap();
    expect(handlesAfter).toBeLessThanOrEqual(handlesBefore);
    expect(heapAfter - heapBefore).toBeLessThan(4 * 1024 * 1024);
    expect(stagesMade.length).toBeGreaterThanOrEqual(220);
    expect(stagesMade.filter((ref) => ref.deref() !== undefined).length).toBeLessThanOrEqual(2);
  }, 120_000);

  async function waitForSessions(n: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (server.sessions() !== n) {
      if (Date.now() > deadline) throw new Error(`${server.sessions()} sessions still open`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
});
