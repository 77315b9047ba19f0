/**
 * Tools offered in the prompt, the call constrained by a grammar: the path for servers
 * without native tool calls (prima.cpp). Here a real llama-server on the tiny model runs
 * the grammar the agent sends — so llama.cpp's own GBNF parser accepts it and its sampler
 * holds the model to it — with no `tools` in any request. A bias on `{` makes the
 * random-weight model open a call; the grammar writes the rest of it.
 */
import type { RunningProcess } from "../../../lib/llama";
import { ToolRegistry, describeSceneTool } from "../../src/twin";
import { PromptedReply, promptedCallGrammar } from "../../src/twin/tools/prompted-calls";
import { startTinyLlm } from "../llm/tiny-llm";
import { startHarness } from "./harness";

describe("tool calls offered in the prompt", () => {
  let server: RunningProcess;

  beforeAll(async () => {
    server = await startTinyLlm();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("a real llama-server held to the grammar writes a call the agent parses and answers, then speaks", async () => {
    let asked = 0;
    const scene = { currentObservation: async () => (asked++, "Observation: I see a person and a cup.") };
    const h = startHarness({
      llm: {
        baseUrl: server.url, toolCalls: "prompt", slotId: 0, maxTokens: 24, temperature: 0, seed: 1,
        request: (round) => (round === 0 ? { extra: { logit_bias: [["{", 100]] }, maxTokens: 256 } : {}),
      },
      scene,
      tools: new ToolRegistry([describeSceneTool(scene)]),
      maxToolRounds: 1,
    });
    try {
      const { turn, text } = await h.say("what do you see?");
      expect(h.logs).toEqual([]);
      expect(turn?.outcome).toBe("answered");
      expect(turn?.toolCalls).toEqual(["describe_scene"]);
      expect(asked).toBe(1);
      expect(turn?.toolResults).toEqual([{ name: "describe_scene", content: "Observation: I see a person and a cup.", ok: true }]);
      // The second completion answered in speech: not a call, and something was said.
      expect(text.trim().length).toBeGreaterThan(0);
      expect(text.trimStart().startsWith("{")).toBe(false);
      expect(turn!.finalMessages.slice(-1)[0]).toEqual({ role: "user", content: "Result of describe_scene: Observation: I see a person and a cup." });
    } finally {
      await h.stop();
    }
  }, 60_000);

  it("speaks from the first token when the reply is not a call, and passes a malformed call on for the registry to answer", () => {
    const speech = new PromptedReply();
    expect(speech.push(" ")).toBe("");
    expect(speech.push("Hello")).toBe(" Hello");
    expect(speech.push(" there")).toBe(" there");
    expect(speech.end()).toBeUndefined();

    const cut = new PromptedReply();
    expect(cut.push('{"tool":"describe_scene","argu')).toBe("");
    expect(cut.end()).toEqual({ id: "call_0", name: "describe_scene", arguments: '{"tool":"describe_scene","argu' });
  });

  it("allows a call only to the offered tools, and none when calls are used up", () => {
    const tools = new ToolRegistry([describeSceneTool(undefined)]).schemas();
    expect(promptedCallGrammar(tools)).toContain('"\\"describe_scene\\""');
    expect(promptedCallGrammar([])).not.toMatch(/call/);
  });
});
