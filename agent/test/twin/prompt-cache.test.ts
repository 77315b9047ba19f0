/**
 * The prompt layout keeps llama-server's prompt cache warm: on turn k ≥ 2 the server
 * evaluates only the tokens new in that turn (+16), even though every turn's user message
 * begins with a different block of recalled memories: each is kept in the history as
 * it was sent, so the next prompt matches the cache. The previous reply is not
 * new: it was generated into the cache, and the tiny model's vocabulary round-trips
 * (the text of a reply tokenizes back to the tokens generated), as a real model's does
 * in the common case.
 */
import type { RunningProcess } from "../../../lib/llama";
import type { ChatMessage } from "../../src/services/llm";
import type { MemoryStore } from "../../src/twin";
import { startTinyLlm } from "../llm/tiny-llm";
import { Speaker, startHarness, type Harness } from "./harness";

async function post<T>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function tokenCount(server: string, messages: ChatMessage[], generationPrompt: boolean): Promise<number> {
  const { prompt } = await post<{ prompt: string }>(`${server}/apply-template`, { messages, add_generation_prompt: generationPrompt });
  const { tokens } = await post<{ tokens: number[] }>(`${server}/tokenize`, { content: prompt, add_special: true, parse_special: true });
  return tokens.length;
}

/** Memories that differ every turn, like real recall does. */
class RotatingMemories implements MemoryStore {
  private turn = 0;
  async recall(): Promise<string[]> {
    this.turn++;
    return [`the user mentioned topic number ${this.turn} earlier`, `the user likes colour ${this.turn * 7}`];
  }
  async remember(): Promise<void> {}
  async flush(): Promise<void> {}
}

describe("prompt cache", () => {
  let server: RunningProcess;
  let h: Harness | undefined;

  beforeAll(async () => {
    server = await startTinyLlm();
  });
  afterAll(async () => {
    await h?.stop();
    await server?.stop();
  });

  it("evaluates only the new tokens of each turn after the first", async () => {
    h = startHarness(
      { llm: { baseUrl: server.url, slotId: 0, maxTokens: 16, temperature: 0, seed: 1 }, memory: { longTerm: new RotatingMemories() } },
      { speaker: new Speaker() },
    );
    const lines = [
      "hello, my name is Ana and I live by the sea",
      "what should I cook tonight with fish and lemons",
      "and what wine goes with it",
      "thanks, remind me tomorrow about the market",
      "what did I say my name was",
      "good night then",
    ];
    const report: string[] = [];
    let firstSystem: ChatMessage | undefined;
    for (const [k, line] of lines.entries()) {
      const { turn } = await h.say(line);
      expect(turn?.outcome).toBe("answered");
      const messages = turn!.messages;
      expect(messages[messages.length - 1].content).toMatch(/^Context:\n- You remember: the user mentioned topic number \d+ earlier\n- You remember: the user likes colour \d+\n\n/);
      expect(messages[messages.length - 1].content.endsWith(`\n\n${line}`)).toBe(true);
      // Layout: the same system message first every turn; the earlier user messages exactly as they were sent.
      expect(messages[0]).toEqual(firstSystem ?? (firstSystem = messages[0]));
      const sent = h.turns.slice(0, k).map((t) => t.messages[t.messages.length - 1].content);
      expect(messages.filter((m) => m.role === "user").slice(0, -1).map((m) => m.content)).toEqual(sent);
      if (k === 0) continue;
      expect(messages[messages.length - 2].role).toBe("assistant");
      const total = await tokenCount(server.url, messages, true);
      // New this turn: the new user message with its context block (and the reply's
      // closing tokens); the reply itself was generated into the cache in turn k-1.
      const fresh = total - (await tokenCount(server.url, messages.slice(0, -2), false));
      const userOnly = total - (await tokenCount(server.url, messages.slice(0, -1), false));
      const evaluated = turn!.promptTokens[0];
      report.push(`turn ${k + 1}: prompt ${total} tokens, new ${fresh} (reply ${fresh - userOnly} + user ${userOnly}), evaluated ${evaluated}`);
      expect(evaluated).toBeLessThanOrEqual(userOnly + 16);
      // The bound is not trivially met: the prompt is far longer than what was evaluated,
      // and the reply (which a broken cache would evaluate again) is not in the slack.
      expect(total).toBeGreaterThan(userOnly + 16 + 100);
      expect(fresh - userOnly).toBeGreaterThan(16);
    }
    process.stdout.write(`${report.join("\n")}\n`);
  });

  it("does not repeat a recalled memory that is still in the conversation", async () => {
    const memory: MemoryStore = {
      recall: async () => ["my name is Ana", "I like green tea"],
      remember: async () => undefined,
      flush: async () => undefined,
    };
    const t = startHarness({ llm: { baseUrl: server.url, slotId: 0, maxTokens: 4, temperature: 0 }, memory: { longTerm: memory } });
    try {
      // Just said: not recalled into its own turn.
      const first = (await t.say("my name is Ana")).turn!;
      expect(first.messages[first.messages.length - 1].content).toBe("Context:\n- You remember: I like green tea\n\nmy name is Ana");
      // Both are in the conversation now (one said, one recalled into a turn): neither is recalled again.
      const { turn } = await t.say("what do I like to drink");
      expect(turn!.messages[turn!.messages.length - 1].content).toBe("what do I like to drink");
    } finally {
      await t.stop();
    }
  });

  it("recalls a memory again once its turn has left the short-term window", async () => {
    const memory: MemoryStore = { recall: async () => ["my name is Ana"], remember: async () => undefined, flush: async () => undefined };
    const t = startHarness({ llm: { baseUrl: server.url, slotId: 0, maxTokens: 4, temperature: 0 }, memory: { longTerm: memory, shortTermTurns: 2 } });
    try {
      await t.say("my name is Ana");
      const second = (await t.say("I like tea")).turn!;
      expect(second.messages[second.messages.length - 1].content).toBe("I like tea"); // said in the window
      const third = (await t.say("and coffee")).turn!;
      expect(third.messages.some((m) => m.content === "my name is Ana")).toBe(true); // still in the window
      expect(third.messages[third.messages.length - 1].content).toBe("and coffee");
      // The next prompt carries the last two turns only: "my name is Ana" is out of it, so it is recalled.
      const fourth = (await t.say("what is my name")).turn!;
      expect(fourth.messages.some((m) => m.content === "my name is Ana")).toBe(false);
      expect(fourth.messages[fourth.messages.length - 1].content).toBe("Context:\n- You remember: my name is Ana\n\nwhat is my name");
    } finally {
      await t.stop();
    }
  });
});
