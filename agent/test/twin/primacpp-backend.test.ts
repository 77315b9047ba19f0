/**
 * The agent on the primacpp backend, against a stand-in that behaves as prima.cpp's rank 0
 * was seen to (agent/test/llm/prima-like-server.ts): it refuses `tools`, refuses a cancel
 * without task id, cancels on disconnect and hangs — with /health 200 — when a rank dies.
 */
import { defaultConfig } from "../../src/config";
import { RunningAgent, startVoiceAgent } from "../../src/main";
import { frame, type Frame } from "../../src/pipeline";
import { ScriptedClient } from "../../src/transport";
import { APOLOGY_BACKEND_DOWN } from "../../src/twin";
import { ensureTinySpeechModels } from "../../../scripts/models/tiny-speech";
import { startPrimaLikeServer, tokensOf, type PrimaLikeServer } from "../llm/prima-like-server";
import { Speaker, startHarness, type Harness } from "./harness";

const SEEN = "Observation: I see a person and a cup.";

/** A model that calls describe_scene when asked what it sees (only if the grammar allows a call) and speaks otherwise. */
function primaModel(body: Record<string, any>): string[] {
  const messages = body.messages as { role: string; content: string }[];
  const last = messages[messages.length - 1].content;
  if (last.startsWith("Result of describe_scene: ")) return tokensOf(`${last.slice("Result of describe_scene: Observation: ".length).replace(/^I see/, "I can see")}`);
  const mayCall = typeof body.grammar === "string" && body.grammar.includes('"\\"describe_scene\\""');
  if (/see/.test(last) && mayCall) return ['{"tool":', '"describe_scene",', '"arguments":', "{}}"];
  if (/story/.test(last)) return tokensOf("Once upon a time there was a small desktop computer that wanted to think. ".repeat(40));
  return tokensOf("Hello, I am Aide, running on your old computers.");
}

describe("the agent on prima.cpp", () => {
  let prima: PrimaLikeServer;
  let h: Harness | undefined;

  beforeEach(async () => {
    prima = await startPrimaLikeServer({ reply: primaModel });
  });
  afterEach(async () => {
    await h?.stop();
    h = undefined;
    await prima.close();
  });

  const brain = (extra: { livenessIntervalMs?: number; livenessTimeoutMs?: number } = {}) =>
    startHarness({
      llm: { baseUrl: prima.url, backend: "primacpp", maxTokens: 64, ...extra },
      scene: { currentObservation: async () => SEEN },
    }, { speaker: new Speaker() });

  it("answers without sending tools, offering them in the prompt and allowing a call only through the grammar", async () => {
    h = brain();
    const { turn, text } = await h.say("hello, who are you?");
    expect(turn?.outcome).toBe("answered");
    expect(text).toBe("Hello, I am Aide, running on your old computers.");
    const sent = prima.requests.filter((r) => r.path === "/v1/chat/completions");
    expect(sent).toHaveLength(1);
    expect(sent[0].body.tools).toBeUndefined();
    expect(sent[0].body.tool_choice).toBeUndefined();
    expect(sent[0].body.messages[0].content).toContain("- describe_scene: Describe what the camera sees right now.");
    expect(sent[0].body.grammar).toMatch(/^root ::= /);
  });

  it("describes the scene: the constrained call is parsed, answered from the camera, and the answer spoken", async () => {
    h = brain();
    const { turn, text } = await h.say("what do you see?");
    expect(turn?.outcome).toBe("answered");
    expect(turn?.toolCalls).toEqual(["describe_scene"]);
    expect(turn?.toolResults).toEqual([{ name: "describe_scene", content: SEEN, ok: true }]);
    // The call itself is never spoken; the answer from its result is.
    expect(text).toBe("I can see a person and a cup.");
    const sent = prima.requests.filter((r) => r.path === "/v1/chat/completions").map((r) => r.body);
    expect(sent).toHaveLength(2);
    // The system prompt (the cached prefix) is byte-identical in both completions.
    expect(sent[1].messages[0].content).toBe(sent[0].messages[0].content);
    expect(sent.every((b) => b.tools === undefined && typeof b.grammar === "string")).toBe(true);
    expect(sent[1].messages.slice(-2)).toEqual([
      { role: "assistant", content: '{"tool":"describe_scene","arguments":{}}' },
      { role: "user", content: `Result of describe_scene: ${SEEN}` },
    ]);
  });

  it("stops generating on barge-in by closing the stream, and never sends a cancel prima refuses", async () => {
    h = brain();
    let interrupted = false;
    const after: Frame[] = [];
    const cut = new Promise<void>((resolve) => {
      const push = h!.out.push.bind(h!.out);
      h!.out.push = (...items: Frame[]) => {
        for (const f of items) {
          if (interrupted && f.type === "llm-text") after.push(f);
          if (!interrupted && f.type === "llm-text" && h!.out.filter((o) => o.type === "llm-text").length === 5) {
            interrupted = true;
            h!.pipeline.queueFrame(frame("interruption"));
            setTimeout(resolve, 300);
          }
        }
        return push(...items);
      };
    });
    h.pipeline.queueFrame(frame("transcription", { text: "tell me a long story", final: true, turnId: 1 }));
    await cut;
    expect(after).toEqual([]);
    expect(prima.cancelledTasks).toHaveLength(1);
    expect(prima.cancelledTasks[0].tokensLeft).toBeGreaterThan(400);
    expect(prima.tokensAfterCancel).toBe(0);
    expect(prima.cancels).toEqual([]);
    expect(prima.requests.map((r) => r.path)).not.toContain("/v1/cancel");
  });

  it("notices a ring that hangs mid-answer within the liveness bound, though /health says 200, and says it is reconnecting until the restarted ring answers", async () => {
    const bound = { livenessIntervalMs: 400, livenessTimeoutMs: 400 };
    h = brain(bound);
    const started = Date.now();
    let hungAt = 0;
    const push = h.out.push.bind(h.out);
    h.out.push = (...items: Frame[]) => {
      if (!hungAt && items.some((f) => f.type === "llm-text")) {
        hungAt = Date.now();
        prima.ringDies();
      }
      return push(...items);
    };
    const { turn, text } = await h.say("tell me a long story");
    const noticedAfter = Date.now() - hungAt;
    expect(hungAt).toBeGreaterThan(started);
    expect(turn?.outcome).toBe("backend-down");
    expect(text).toContain(APOLOGY_BACKEND_DOWN);
    // Detected by the liveness question, well before the 60 s idle timeout.
    expect(noticedAfter).toBeLessThan(bound.livenessIntervalMs + bound.livenessTimeoutMs + 500);
    expect(h.logs.join("\n")).toMatch(/stopped answering: .*no answer to \/slots within 400 ms/);
    // /health kept answering 200 all along: it could not have told.
    const health = await fetch(`${prima.url}/health`);
    expect(health.status).toBe(200);
    // The next turn, to a ring that still hangs, is told the same within the bound.
    const again = Date.now();
    const next = await h.say("are you there?");
    expect(next.text).toContain(APOLOGY_BACKEND_DOWN);
    expect(Date.now() - again).toBeLessThan(bound.livenessIntervalMs + bound.livenessTimeoutMs + 500);

    // The job's keeper restarts the ring: while it loads the agent still says it is reconnecting, then answers.
    prima.ringRestarts();
    expect((await h.say("hello?")).text).toContain(APOLOGY_BACKEND_DOWN);
    prima.ready();
    const back = await h.say("hello, who are you?");
    expect(back.turn?.outcome).toBe("answered");
    expect(back.text).toBe("Hello, I am Aide, running on your old computers.");
  });
});

describe("the whole agent with AIDE_LLM_BACKEND=primacpp", () => {
  let prima: PrimaLikeServer;
  let agent: RunningAgent;
  let client: ScriptedClient | undefined;

  beforeAll(async () => {
    prima = await startPrimaLikeServer({ reply: primaModel });
    const speech = await ensureTinySpeechModels();
    agent = await startVoiceAgent({
      ...defaultConfig(), host: "127.0.0.1", port: 0, llmUrl: prima.url, llmBackend: "primacpp", modelsDir: speech.dir, ttsVoice: "espeak", sttThreads: 1, llmMaxTokens: 32,
    }, () => {});
  }, 120_000);
  afterAll(async () => {
    client?.terminate();
    await agent?.close();
    await prima?.close();
  });

  it("takes a turn end to end: the answer is streamed as text and spoken as audio", async () => {
    client = await ScriptedClient.connect(agent.wsUrl);
    await client.ready();
    const m0 = client.messages.length;
    const a0 = client.audio.length;
    client.sendText("Hello there");
    await client.waitForMessage((m) => m.type === "bot-llm-stopped", 30_000, m0);
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 30_000, m0);
    const said = client.messages.slice(m0).filter((m) => m.message.type === "bot-llm-text").map((m) => (m.message.data as { text: string }).text).join("");
    expect(said).toBe("Hello, I am Aide, running on your old computers.");
    expect(client.audioMs(a0)).toBeGreaterThan(500);
    expect(prima.requests.filter((r) => r.path === "/v1/chat/completions").every((r) => r.body.tools === undefined)).toBe(true);
  }, 60_000);
});
