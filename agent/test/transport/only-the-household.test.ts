/**
 * Only the household talks to Aide: a session starts only for a client that gives the
 * pairing code; wrong codes are counted per address and, past 19 in a minute, refused
 * without being compared; /health tells a stranger nothing but "ok".
 *
 * The clients connect from this machine's LAN address (not loopback, which needs no code:
 * see agent/src/transport/pairing.ts), so the server sees them as another device would.
 */
import * as os from "node:os";
import { AgentServer, PAIRING_CLOSE_CODES, PAIRING_HEADER, PairingGate, ScriptedClient, WRONG_CODES_PER_MINUTE, newPairingCode, startAgentServer } from "../../src/transport";
import { ToneBot } from "./tone-bot";

const CODE = "k7pm-2qxd";

function lanAddress(): string {
  const address = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === "IPv4" && !i.internal)?.address;
  if (!address) throw new Error("this test needs a non-loopback IPv4 address on this machine (a client from loopback needs no pairing code)");
  return address;
}

describe("the pairing code", () => {
  let server: AgentServer;
  let lan: string;
  let base: string;

  beforeAll(async () => {
    lan = lanAddress();
    server = await startAgentServer({ host: lan, stages: ({ input, output }) => [input, new ToneBot(1000, 3), output], pairingCode: CODE, health: () => ({ voice: "espeak-ng en-us", memory: "12 memories" }) });
    base = `http://${lan}:${server.port}`;
  });
  afterAll(async () => { await server?.close(); });

  const connect = (code?: string) =>
    ScriptedClient.connect(`ws://${lan}:${server.port}/ws${code === undefined ? "" : `?code=${encodeURIComponent(code)}`}`, 5000, { localAddress: lan });

  it("refuses a session without the code, saying how to get it, in the close reason and as an RTVI error", async () => {
    const client = await connect();
    expect(await client.closed()).toBe(PAIRING_CLOSE_CODES.required);
    expect(client.closeReason).toMatch(/pairing code: npm start prints it/);
    expect(client.messages.map((m) => m.message)).toContainEqual(expect.objectContaining({ type: "error", data: expect.objectContaining({ pairing: "required", fatal: true }) }));
  });

  it("refuses a wrong code and starts a session with the right one (any case, dashes optional)", async () => {
    const wrong = await connect("aaaa-bbbb");
    expect(await wrong.closed()).toBe(PAIRING_CLOSE_CODES.wrong);
    expect(wrong.closeReason).toMatch(/wrong pairing code/);
    const right = await connect("K7PM2QXD");
    try {
      await right.ready();
      right.sendText("hello");
      await right.waitForMessage((m) => m.type === "bot-stopped-speaking");
      expect(right.audio.length).toBeGreaterThan(0);
    } finally {
      right.terminate();
    }
  });

  it("tells the page before it connects whether its remembered code is right", async () => {
    expect((await fetch(`${base}/pairing`, { headers: { [PAIRING_HEADER]: CODE } })).status).toBe(204);
    const none = await fetch(`${base}/pairing`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ pairing: "required" });
  });

  it("gives /health's details only with the code", async () => {
    const stranger = await (await fetch(`${base}/health`)).json();
    expect(stranger).toEqual({ status: "ok" });
    const household = await (await fetch(`${base}/health`, { headers: { [PAIRING_HEADER]: CODE } })).json();
    expect(household).toMatchObject({ status: "ok", sessions: expect.any(Number), memory: "12 memories" });
  });

  it("lets this machine itself (loopback) talk without a code", async () => {
    const local = await startAgentServer({ stages: ({ input, output }) => [input, new ToneBot(1000, 1), output], pairingCode: CODE });
    const client = await ScriptedClient.connect(local.wsUrl);
    try {
      await client.ready();
    } finally {
      client.terminate();
      await local.close();
    }
  });
});

describe("wrong pairing codes from one address", () => {
  it(`refuses the ${WRONG_CODES_PER_MINUTE}th in a minute without checking it, even when it is right, until the first falls out of the minute`, () => {
    let now = 1_000_000;
    const gate = new PairingGate(CODE, () => now);
    for (let i = 1; i < WRONG_CODES_PER_MINUTE; i++) {
      expect(gate.check("192.168.1.50", `wrong${i}aa`)).toMatchObject({ ok: false, kind: "wrong" });
      now += 1000;
    }
    const refused = gate.check("192.168.1.50", CODE);
    expect(refused).toMatchObject({ ok: false, kind: "rate-limited", retryAfterS: 41 });
    expect(!refused.ok && refused.reason).toBe("too many wrong pairing codes from 192.168.1.50: try again in 41 s");
    // Another address is not held back by this one's mistakes.
    expect(gate.check("192.168.1.51", CODE)).toEqual({ ok: true });
    now += 41_000;
    expect(gate.check("192.168.1.50", CODE)).toEqual({ ok: true });
  });

  it("refuses the 20th over the wire too, with close code 4029", async () => {
    const lan = lanAddress();
    const server = await startAgentServer({ host: lan, stages: ({ input, output }) => [input, new ToneBot(1000, 1), output], pairingCode: CODE });
    try {
      for (let i = 1; i < WRONG_CODES_PER_MINUTE; i++) {
        const res = await fetch(`http://${lan}:${server.port}/pairing`, { headers: { [PAIRING_HEADER]: `nope${i}xx` } });
        expect(res.status).toBe(401);
      }
      const client = await ScriptedClient.connect(`ws://${lan}:${server.port}/ws?code=${CODE}`, 5000, { localAddress: lan });
      expect(await client.closed()).toBe(PAIRING_CLOSE_CODES["rate-limited"]);
      expect(client.closeReason).toMatch(/^too many wrong pairing codes from [\d.]+: try again in \d+ s$/);
      const res = await fetch(`http://${lan}:${server.port}/pairing`, { headers: { [PAIRING_HEADER]: CODE } });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });
});

describe("a new pairing code", () => {
  it("is eight unambiguous letters and digits, and a different one each time", () => {
    const codes = new Set(Array.from({ length: 50 }, () => newPairingCode()));
    expect(codes.size).toBe(50);
    for (const code of codes) expect(code).toMatch(/^[a-hjkmnp-z2-9]{4}-[a-hjkmnp-z2-9]{4}$/);
  });

  it("refuses a code too short to keep anyone out, saying what to change", () => {
    expect(() => new PairingGate("12345")).toThrow("the pairing code must be 6 to 64 letters and digits");
  });
});
