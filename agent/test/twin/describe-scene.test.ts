/**
 * describe_scene through llama-server's native tool calling (--jinja) on the tiny model:
 * the call is forced deterministically (tool_choice "required" + a bias on the `{` that
 * opens a call), TwinService answers it from the SceneSource and the completion goes on
 * with the observation in the prompt. A missing, failing or hanging camera is said so.
 */
import type { RunningProcess } from "../../../lib/llama";
import { frame } from "../../src/pipeline";
import { ToolRegistry, describeSceneTool, type SceneSource } from "../../src/twin";
import { TOOL_FORCING, startTinyLlm } from "../llm/tiny-llm";
import { startHarness, type Harness } from "./harness";

describe("describe_scene", () => {
  let server: RunningProcess;
  let h: Harness | undefined;

  beforeAll(async () => {
    server = await startTinyLlm({ tools: true });
  });
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const forcedFirstCall = (scene: SceneSource | undefined) =>
    startHarness({
      llm: {
        baseUrl: server.url,
        slotId: 0,
        maxTokens: 48,
        temperature: 0,
        seed: 1,
        request: (round) => (round === 0 ? { toolChoice: "required", extra: { ...TOOL_FORCING }, maxTokens: 256 } : {}),
      },
      scene,
      // Only this tool, so the forced call can only be describe_scene.
      tools: new ToolRegistry([describeSceneTool(scene)]),
    });

  it("calls the tool, answers it with the latest observation and continues the answer", async () => {
    let asked = 0;
    h = forcedFirstCall({
      async currentObservation() {
        asked++;
        return "Observation: I see a person and a cup.";
      },
    });
    const { turn, text } = await h.say("what do you see right now?");
    expect(turn?.outcome).toBe("answered");
    expect(asked).toBe(1);
    expect(turn?.toolCalls).toEqual(["describe_scene"]);
    expect(turn?.toolResults).toEqual([{ name: "describe_scene", content: "Observation: I see a person and a cup.", ok: true }]);
    // The second completion saw the call and its result, and produced the spoken words.
    const final = turn!.finalMessages;
    expect(final[final.length - 2]).toMatchObject({ role: "assistant", tool_calls: [{ type: "function", function: { name: "describe_scene" } }] });
    expect(final[final.length - 1]).toMatchObject({ role: "tool", content: "Observation: I see a person and a cup." });
    expect(turn?.promptTokens).toHaveLength(2);
    expect(text.trim().length).toBeGreaterThan(0);
    // The tool schema went out with the first request, as the server's template renders it.
    expect(h.twin.tools.schemas().map((s) => s.function.name)).toEqual(["describe_scene"]);
  });

  it("says there is no camera when none is attached", async () => {
    h = forcedFirstCall(undefined);
    const { turn } = await h.say("what do you see?");
    expect(turn?.toolResults).toEqual([
      { name: "describe_scene", content: "I can't see right now: no camera is attached to this assistant.", ok: true },
    ]);
    expect(turn?.outcome).toBe("answered");
  });

  it("still answers when the vision service fails", async () => {
    h = forcedFirstCall({
      async currentObservation() {
        throw new Error("vision service at http://127.0.0.1:9 refused the connection");
      },
    });
    const { turn, text } = await h.say("what do you see?");
    expect(turn?.toolResults[0]).toEqual({
      name: "describe_scene",
      content: "Error: describe_scene failed: vision service at http://127.0.0.1:9 refused the connection.",
      ok: false,
    });
    expect(turn?.outcome).toBe("answered");
    expect(text.trim().length).toBeGreaterThan(0);
    expect(h.logs.join("\n")).toMatch(/tool describe_scene: Error: describe_scene failed/);
  });

  it("gives up on a vision service that hangs after its bound, and answers anyway", async () => {
    h = forcedFirstCall({ currentObservation: () => new Promise<string>(() => undefined) });
    const started = Date.now();
    const { turn } = await h.say("what do you see?");
    expect(Date.now() - started).toBeLessThan(5000);
    expect(turn?.toolResults[0]).toEqual({ name: "describe_scene", content: "Error: describe_scene did not answer within 2000 ms.", ok: false });
    expect(turn?.outcome).toBe("answered");
  });

  it("stops waiting for the camera at once when the user interrupts", async () => {
    let entered: () => void = () => undefined;
    const inTool = new Promise<void>((resolve) => (entered = resolve));
    const harness = forcedFirstCall({
      currentObservation: () => {
        entered();
        return new Promise<string>(() => undefined); // a camera that never answers
      },
    });
    h = harness;
    harness.pipeline.queueFrame(frame("transcription", { text: "what do you see?", final: true, turnId: 1 }));
    await inTool;
    const interruptedAt = Date.now();
    harness.pipeline.queueFrame(frame("interruption"));
    await harness.pipeline.idle();
    // Not the tool's 2 s bound: the interruption ends the wait.
    expect(Date.now() - interruptedAt).toBeLessThan(200);
    expect(harness.turns).toHaveLength(0);
    expect(harness.out.some((f) => f.type === "llm-response-end")).toBe(false);
  });

  it("can also put the latest observation in every user message's context block, kept in the history as sent", async () => {
    const seen = ["Observation: I see a person and a cup.", "Observation: I see a cup."];
    const scene = { currentObservation: async () => seen.shift() ?? "Observation: I see nothing." };
    h = startHarness({ llm: { baseUrl: server.url, slotId: 0, maxTokens: 8, temperature: 0 }, scene, observationEveryTurn: true });
    const { turn } = await h.say("hello");
    expect(turn!.messages[turn!.messages.length - 1].content).toBe("Context:\n- Observation: I see a person and a cup.\n\nhello");
    const next = await h.say("and now?");
    // The older user message is as it was sent (so the server's cache still matches it); the newest has what the camera sees now.
    expect(next.turn!.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual([
      "Context:\n- Observation: I see a person and a cup.\n\nhello",
      "Context:\n- Observation: I see a cup.\n\nand now?",
    ]);
  });
});
