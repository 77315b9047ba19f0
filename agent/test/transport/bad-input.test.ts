import type { Socket } from "node:net";
import { Direction, Frame, FrameProcessor } from "../../src/pipeline";
import { AgentServer, ScriptedClient, encodeAudio, startAgentServer } from "../../src/transport";
import { encodeMessageFrame as encodeMessage } from "../../src/transport/wire";
import { ToneBot } from "./tone-bot";

/** What the client was told: the `error` messages' texts. */
function errors(client: ScriptedClient): string[] {
  return client.messages.filter((m) => m.message.type === "error").map((m) => (m.message.data as { message: string }).message);
}

describe("bad input from a client", () => {
  let server: AgentServer;
  const clients: ScriptedClient[] = [];

  beforeAll(async () => {
    server = await startAgentServer({ stages: ({ input, output }) => [input, new ToneBot(1000, 10), output] });
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
    expect(client.closeReason).toMatch(/over the 1 MiB limit/);
    expect(errors(client).join("\n")).toMatch(/closing: message over the 1 MiB limit: send audio in 512-byte chunks/);
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

  it("lives through a 20 KB message nested 10,000 deep, and its cousins at every JSON entry point", async () => {
    const deep = (n: number, leaf = "1") => "[".repeat(n) + leaf + "]".repeat(n);
    const message = (json: string) => encodeMessage(json);
    const hostile: Array<[string, Uint8Array]> = [
      ["client-message data.t", message(`{"label":"rtvi-ai","type":"client-message","data":{"t":${deep(10_000)}}}`)],
      ["client-message with an id", message(`{"label":"rtvi-ai","type":"client-message","id":"x","data":{"t":${deep(10_000)}}}`)],
      ["label", message(`{"label":${deep(10_000)},"type":"send-text"}`)],
      ["type", message(`{"label":"rtvi-ai","type":${deep(10_000)}}`)],
      ["id", message(`{"label":"rtvi-ai","type":"client-ready","id":${deep(10_000)}}`)],
      ["send-text content", message(`{"label":"rtvi-ai","type":"send-text","data":{"content":${deep(10_000)}}}`)],
      ["objects, not arrays", message(`{"label":"rtvi-ai","type":"send-text","data":${"{\"a\":".repeat(8_000)}1${"}".repeat(8_000)}}`)],
      ["the whole message", message(deep(20_000))],
      ["a huge type", message(`{"label":"rtvi-ai","type":"${"x".repeat(60_000)}","id":"y"}`)],
      ["a huge label", message(`{"label":"${"x".repeat(60_000)}","type":"t"}`)],
      ["wrong types", message(`{"label":"rtvi-ai","type":7,"data":null}`)],
      ["data as a string", message(`{"label":"rtvi-ai","type":"send-text","data":"hello"}`)],
      // protobuf groups nest too: 20,000 start-group tags of field 7.
      ["nested protobuf groups", new Uint8Array(20_000).fill(0x3b)],
    ];
    const bystander = await connect();
    const told = new Map<string, string>();
    for (const [what, bytes] of hostile) {
      const client = await connect();
      client.sendRaw(bytes);
      const replies = () => [...errors(client), ...client.messages.filter((m) => m.message.type === "error-response").map((m) => (m.message.data as { error: string }).error)];
      await client.waitFor(() => replies().length > 0, 2000, `a reply to ${what}`);
      for (const text of replies()) expect(text.length).toBeLessThan(400);
      told.set(what, replies().join("\n"));
      await stillTalks(client);
      client.close();
      await client.closed();
    }
    expect(told.get("client-message data.t")).toMatch(/RTVI message nests deeper than 32 levels: send flat data/);
    expect(told.get("a huge label")).toMatch(/label "x{40}"… is not "rtvi-ai"/);
    expect(told.get("a huge type")).toMatch(/type of 60000 characters is over the 100-character limit/);
    expect(told.get("nested protobuf groups")).toMatch(/malformed protobuf frame/);
    await stillTalks(bystander);
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
      stages: ({ input, output }) => {
        if (attempts++ === 0) throw new Error("missing stt model tiny: run npm run models -- download");
        return [input, new ToneBot(1000, 3), output];
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

  it("says so when the pipeline built for it leaves out the client's input or output", async () => {
    const server = await startAgentServer({ stages: () => [new ToneBot(1000, 3)] });
    try {
      const failed = await ScriptedClient.connect(server.wsUrl);
      expect(await failed.closed()).toBe(1011);
      expect(errors(failed)[0]).toMatch(/put context.input first and context.output last/);
    } finally {
      await server.close();
    }
  });
});

/** Costs 2 ms per microphone frame, as a VAD on a slow CPU would; counts what it handled. */
class SlowListener extends FrameProcessor {
  heard = 0;
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type === "input-audio") {
      await new Promise((resolve) => setTimeout(resolve, 2));
      this.heard++;
    }
    this.push(f, direction);
  }
}

/** Answers every typed turn with `count` server messages of 16 KB each: a server that keeps writing. */
class Chatterbox extends FrameProcessor {
  constructor(private readonly count: number, private readonly send: (data: unknown) => void) { super(); }
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type === "transcription" && direction === "downstream") {
      for (let i = 0; i < this.count; i++) this.send({ i, filler: "x".repeat(16_000) });
      return;
    }
    this.push(f, direction);
  }
}

describe("a client that floods or stops reading", () => {
  it("drops microphone audio sent faster than real time, says so, and stops costing anything once the client leaves", async () => {
    const listeners: SlowListener[] = [];
    const server = await startAgentServer({ stages: ({ input, output }) => { const l = new SlowListener(); listeners.push(l); return [input, l, output]; } });
    try {
      const client = await ScriptedClient.connect(server.wsUrl);
      await client.ready();
      const started = performance.now();
      // 2,000 frames of 32 ms (64 s of audio) in about 2 s.
      for (let batch = 0; batch < 20; batch++) {
        for (let i = 0; i < 100; i++) client.sendAudio(new Int16Array(512));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const sendMs = performance.now() - started;
      await client.waitFor(() => errors(client).some((e) => /faster than real time/.test(e)), 2000, "the client told");
      client.terminate();
      await client.closed();
      const [listener] = listeners;
      await new Promise((resolve) => setTimeout(resolve, 100));
      const atLeave = listener.heard;
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Real time plus the 1 s allowance, in 32 ms frames, and nothing after the client left.
      expect(atLeave).toBeLessThanOrEqual(Math.ceil((sendMs + 1000) / 32) + 2);
      expect(listener.heard - atLeave).toBeLessThanOrEqual(1);
      expect(errors(client).find((e) => /faster than real time/.test(e))).toMatch(/more than 1000 ms ahead\): the excess is dropped — send audio as it is recorded/);
    } finally {
      await server.close();
    }
  });

  it("closes a session whose client stops reading while the server keeps writing", async () => {
    const server = await startAgentServer({ stages: (session) => [session.input, new Chatterbox(800, (data) => session.sendServerMessage(data)), session.output] });
    try {
      const stuck = await ScriptedClient.connect(server.wsUrl);
      await stuck.ready();
      (stuck.ws as unknown as { _socket: Socket })._socket.pause();
      stuck.sendText("tell me everything");
      const deadline = performance.now() + 5000;
      while (server.sessions() > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(server.sessions()).toBe(0);
      const next = await ScriptedClient.connect(server.wsUrl);
      await next.ready();
      next.terminate();
      stuck.terminate();
    } finally {
      await server.close();
    }
  });
});
