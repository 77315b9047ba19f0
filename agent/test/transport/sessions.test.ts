import { WebSocket } from "ws";
import { AgentServer, ScriptedClient, encodeRtvi, startAgentServer } from "../../src/transport";
import { ToneBot } from "./tone-bot";
import { settledHeap } from "./settled-heap";

describe("several people talking to one agent", () => {
  let server: AgentServer;
  let voices = 0;
  /** Every session's stage, weakly: a leaked session keeps its stage reachable. */
  const stagesMade: Array<WeakRef<ToneBot>> = [];

  beforeAll(async () => {
    // Each session's bot has its own voice (sample value), so crossed wires would show.
    server = await startAgentServer({ stages: ({ input, output }) => {
      const bot = new ToneBot(1000 * ++voices, 15);
      stagesMade.push(new WeakRef(bot));
      return [input, bot, output];
    }, maxSessions: 8, maxSessionsPerAddress: 8 });
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

describe("connections that hold a slot without talking", () => {
  let server: AgentServer;

  beforeAll(async () => {
    server = await startAgentServer({ stages: ({ input, output }) => [input, new ToneBot(1000, 3), output], maxSessions: 8, handshakeTimeoutMs: 300, idleTimeoutMs: 400 });
  });
  afterAll(async () => { await server.close(); });

  /** A raw socket, optionally one that never answers pings (a client that froze or vanished without a FIN). */
  async function rawSocket(autoPong = true): Promise<{ ws: WebSocket; closed: Promise<[number, string]> }> {
    const ws = new WebSocket(server.wsUrl, { autoPong });
    const closed = new Promise<[number, string]>((resolve) => ws.on("close", (code, reason) => resolve([code, reason.toString()])));
    await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
    return { ws, closed };
  }

  it("closes sockets that never say client-ready, so eight of them cannot lock everyone out", async () => {
    const idle = [];
    for (let i = 0; i < 4; i++) idle.push(await rawSocket());
    const [code, reason] = await idle[0].closed;
    expect(code).toBe(1008);
    expect(reason).toMatch(/no client-ready within 300 ms/);
    await Promise.all(idle.map((s) => s.closed));
    const client = await ScriptedClient.connect(server.wsUrl);
    await client.ready();
    client.sendText("hello");
    await client.waitFor(() => client.audio.length > 0, 3000, "an answer");
    client.terminate();
  });

  it("closes a live session that goes silent — no audio, no pong — and keeps a quiet one that answers pings", async () => {
    const frozen = await rawSocket(false);
    frozen.ws.send(encodeRtvi("client-ready", { version: "2.1.0" }, "r1"));
    const quiet = await ScriptedClient.connect(server.wsUrl);
    await quiet.ready();
    const started = performance.now();
    const [code, reason] = await frozen.closed;
    expect(code).toBe(1001);
    expect(reason).toMatch(/nothing heard from this client for 400 ms \(no audio, no pong\)/);
    expect(performance.now() - started).toBeLessThan(2500);
    await new Promise((resolve) => setTimeout(resolve, 800)); // two idle timeouts of silence
    expect(quiet.isOpen).toBe(true);
    quiet.close();
  });

  it("lets one address hold at most half of the sessions", async () => {
    const clients = await Promise.all(Array.from({ length: 5 }, () => ScriptedClient.connect(server.wsUrl)));
    try {
      expect(await clients[4].closed(3000)).toBe(1013);
      expect(clients[4].closeReason).toMatch(/4 sessions already open from 127\.0\.0\.1, the most one address may hold/);
      for (const c of clients.slice(0, 4)) await c.ready();
    } finally {
      for (const c of clients) c.terminate();
    }
  });
});
