import { AgentServer, ScriptedClient, encodeAudio, startAgentServer } from "../../src/transport";
import { ToneBot } from "./tone-bot";

/** What the client was told: the `error` messages' texts. */
function errors(client: ScriptedClient): string[] {
  return client.messages.filter((m) => m.message.type === "error").map((m) => (m.message.data as { message: string }).message);
}

describe("bad input from a client", () => {
  let server: AgentServer;
  const clients: ScriptedClient[] = [];

  beforeAll(async () => {
    server = await startAgentServer({ stages: () => [new ToneBot(1000, 10)] });
  });
  afterEach(() => { for (const c of clients.splice(0)) c.terminate(); });
  afterAll(async () => { await server.close(); });

  async function connect(): Promise<ScriptedClient> {
    const client = await ScriptedClient.connect(server.wsUrl);
    clients.push(client);
    await client.ready();
    return client;
  }

  /** The session still works: a text turn still gets its answer. */
  async function stillTalks(client: ScriptedClient): Promise<void> {
    const before = client.audio.length;
    client.sendText("are you still there");
    await client.waitFor(() => client.audio.length > before, 3000, "an answer after the bad input");
  }

  it("tells the client a malformed protobuf frame is malformed, and keeps the session", async () => {
    const client = await connect();
    client.sendRaw(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x01, 0x02]));
    await client.waitFor(() => errors(client).length > 0, 2000, "an error");
    expect(errors(client)[0]).toMatch(/malformed protobuf frame/);
    await stillTalks(client);
  });

  it("names an unknown frame type (a field pipecat's Frame does not have)", async () => {
    const client = await connect();
    client.sendRaw(new Uint8Array([0x3a, 0x02, 0x08, 0x01])); // field 7, length-delimited
    await client.waitFor(() => errors(client).length > 0, 2000, "an error");
    expect(errors(client)[0]).toMatch(/unknown frame type/);
    await stillTalks(client);
  });

  it("rejects an oversized message politely, and closes the socket on one past the hard cap", async () => {
    const client = await connect();
    client.sendRaw(encodeAudio(new Int16Array(50_000), 16000));
    await client.waitFor(() => errors(client).length > 0, 2000, "an error");
    expect(errors(client)[0]).toMatch(/over the 65536-byte limit/);
    await stillTalks(client);
    client.sendRaw(new Uint8Array(2 * 1024 * 1024));
    expect(await client.closed()).toBe(1009);
    const other = await connect();
    await stillTalks(other);
  });

  it("explains that microphone audio must be 16 kHz mono, once, not per chunk", async () => {
    const client = await connect();
    for (let i = 0; i < 20; i++) client.sendAudio(new Int16Array(256), 44100);
    await client.waitFor(() => errors(client).length > 0, 2000, "an error");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors(client)).toHaveLength(1);
    expect(errors(client)[0]).toMatch(/44100 Hz.*16000 Hz mono PCM16.*WavMediaManager\(512, 16000\)/);
    await stillTalks(client);
  });

  it("rejects text WebSocket messages, non-RTVI JSON, and odd-length audio with reasons", async () => {
    const client = await connect();
    client.sendRaw("hello?");
    client.sendRtvi("nonsense-request", {}, "req-1");
    client.sendRaw(new Uint8Array([0x22, 0x05, 0x0a, 0x03, 0x7b, 0x7d, 0x7d])); // message { data: "{}}" }
    client.sendRaw(new Uint8Array([0x12, 0x05, 0x1a, 0x03, 0x01, 0x02, 0x03])); // audio { audio: 3 bytes }
    await client.waitFor(() => errors(client).length >= 3, 2000, "three errors");
    const reply = await client.waitForMessage((m) => m.type === "error-response" && m.id === "req-1");
    expect((reply.data as { error: string }).error).toMatch(/"nonsense-request" is not supported/);
    expect(errors(client).join("\n")).toMatch(/text WebSocket messages are not understood/);
    expect(errors(client).join("\n")).toMatch(/not JSON/);
    expect(errors(client).join("\n")).toMatch(/3 bytes is not whole 16-bit samples/);
    await stillTalks(client);
  });

  it("closes a client that sends nothing but garbage, with the reason", async () => {
    const client = await connect();
    for (let i = 0; i < 600; i++) client.sendRaw(new Uint8Array([0x3a, 0x00]));
    expect(await client.closed()).toBe(1008);
    expect(client.closeReason).toMatch(/too many unusable messages/);
  });

  it("survives a client vanishing mid-answer: the session is cleaned up and others carry on", async () => {
    const leaving = await connect();
    const staying = await connect();
    leaving.sendText("talk for a while");
    await leaving.waitFor(() => leaving.audio.length > 3, 3000, "the answer to start");
    const open = server.sessions();
    leaving.terminate();
    await staying.waitFor(() => server.sessions() === open - 1 || undefined, 3000, "the vanished session to close");
    await stillTalks(staying);
  });
});

describe("a session that cannot start", () => {
  it("tells the client why and closes it, and the server keeps serving", async () => {
    let attempts = 0;
    const server = await startAgentServer({
      stages: () => {
        if (attempts++ === 0) throw new Error("missing stt model tiny: run npm run models -- download");
        return [new ToneBot(1000, 3)];
      },
    });
    try {
      const failed = await ScriptedClient.connect(server.wsUrl);
      expect(await failed.closed()).toBe(1011);
      expect(errors(failed)[0]).toMatch(/could not start a session: missing stt model tiny: run npm run models -- download/);
      const next = await ScriptedClient.connect(server.wsUrl);
      await next.ready();
      next.sendText("hello");
      await next.waitFor(() => next.audio.length > 0, 3000, "an answer");
      next.close();
    } finally {
      await server.close();
    }
  });
});
