/**
 * The prompt cache is warmed ahead of the user (twin/prompt-cache.ts), against a real
 * llama-server on the tiny model with a tool-rendering template, so the prefix carries
 * tool schemas as the cluster's does:
 *  - a session's first turn does not pay for the system prompt and tool schemas;
 *  - interim transcripts and the prompt prepared at a pause leave only the words after
 *    the last guess to evaluate when the user stops (none when the guess was right);
 *  - memories recalled while the user speaks are evaluated with their words, before the stop;
 *  - the evaluated prefix is saved by llama-server and restored into a restarted one.
 * Each figure is compared with the whole prompt of the same turn (what a cold cache
 * evaluates), so the test fails if the warming does nothing.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningProcess } from "../../../lib/llama";
import { frame } from "../../src/pipeline";
import { DEFAULT_SYSTEM_PROMPT } from "../../src/twin/prompt";
import { heardReply } from "../../src/twin/short-term-memory";
import { startTinyLlm } from "../llm/tiny-llm";
import { currentTimeTool } from "../../src/twin/tools/current-time";
import { describeSceneTool } from "../../src/twin/tools/describe-scene";
import { ToolRegistry } from "../../src/twin/tools/registry";

/** The brain's default tools, as every completion carries them. */
const TOOLS = new ToolRegistry([describeSceneTool(undefined), currentTimeTool()]).schemas();
import { PartialSpeaker, Speaker, startHarness, type Harness } from "./harness";

async function post<T>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function tokens(server: string, text: string): Promise<number> {
  const { tokens: t } = await post<{ tokens: number[] }>(`${server}/tokenize`, { content: text, add_special: false, parse_special: true });
  return t.length;
}

/** The whole prompt of a completion (tool schemas included), in tokens: what a cold cache evaluates. */
async function promptTokens(server: string, messages: unknown[]): Promise<number> {
  const { prompt } = await post<{ prompt: string }>(`${server}/apply-template`, { messages, tools: TOOLS, tool_choice: "auto" });
  return tokens(server, prompt);
}

/** Tokens the template puts after the user's words (end of message, the assistant's opening). */
async function closing(server: string): Promise<number> {
  const { prompt } = await post<{ prompt: string }>(`${server}/apply-template`, { messages: [{ role: "user", content: "MARK" }] });
  return tokens(server, prompt.slice(prompt.indexOf("MARK") + 4));
}

const LLM = { slotId: 0, maxTokens: 8, temperature: 0, seed: 1 };

describe("warming the prompt cache ahead of the user", () => {
  let server: RunningProcess | undefined;
  let slots: string;
  const harnesses: Harness[] = [];
  const harness = (warm: boolean) => {
    const h = startHarness({ llm: { baseUrl: server!.url, ...LLM }, warmPromptCache: warm }, { speaker: new Speaker() });
    harnesses.push(h);
    return h;
  };
  /** The pipeline has handled what was queued, and the warms it started are done. */
  const settle = async (h: Harness) => {
    await h.pipeline.idle();
    await h.twin.warmed();
  };
  const erase = () => post(`${server!.url}/slots/0?action=erase`, {});

  beforeAll(async () => {
    slots = mkdtempSync(join(tmpdir(), "aide-slots-"));
    server = await startTinyLlm({ tools: true, slotSavePath: slots });
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.stop();
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(slots, { recursive: true, force: true });
  });

  it("evaluates the system prompt and tool schemas when a session opens, not in its first turn", async () => {
    await erase();
    const warm = harness(true);
    await settle(warm);
    expect(warm.logs.join("\n")).toMatch(/prompt cache: evaluated the \d+-token prefix .* saved as aide-prefix-[0-9a-f]{16}\.bin/);
    const warmTurn = (await warm.say("hello there, who are you")).turn!;
    const system = warmTurn.messages[0].content;
    // The prefix with its tool schemas is long; the warm first turn evaluates the user's words and the template's closing tokens.
    const whole = await promptTokens(server!.url, warmTurn.messages);
    expect(whole).toBeGreaterThan(100);
    const userPart = await tokens(server!.url, "hello there, who are you");
    expect(warmTurn.promptTokens[0]).toBeLessThanOrEqual(userPart + (await closing(server!.url)) + 1);
    expect(warmTurn.promptTokens[0]).toBeLessThan(whole / 4);
    expect(system.length).toBeGreaterThan(50);
  });

  it("leaves only the words after the last interim guess, and none after a right guess at a pause", async () => {
    const h = harness(true);
    await settle(h);
    await h.say("my name is Ana");
    await settle(h);
    // The user speaks: interim transcripts, then the transcript at a pause that turns out to be the whole utterance.
    const line = "what should I cook tonight with fish and lemons";
    h.pipeline.queueFrame(frame("transcription", { text: "what should I", final: false, turnId: 2 }));
    await settle(h);
    h.pipeline.queueFrame(frame("transcription", { text: "what should I cook tonight", final: false, turnId: 2 }));
    await settle(h);
    h.pipeline.queueFrame(frame("transcription", { text: line, final: false, turnId: 2, atPause: true }));
    await settle(h);
    const right = (await h.say(line)).turn!;
    // The prepared prompt is the completion's prompt: llama-server re-evaluates only its last token.
    expect(right.promptTokens[0]).toBeLessThanOrEqual(1);
    await settle(h);

    // The user went on after the pause: only the words after the guess (and the closing tokens) are left.
    h.pipeline.queueFrame(frame("transcription", { text: "and which wine", final: false, turnId: 3, atPause: true }));
    await settle(h);
    const wentOn = (await h.say("and which wine goes with it")).turn!;
    const tail = await tokens(server!.url, " goes with it");
    expect(wentOn.promptTokens[0]).toBeGreaterThan(1);
    expect(wentOn.promptTokens[0]).toBeLessThanOrEqual(tail + (await closing(server!.url)) + 1);

    // On a cold cache the same turn evaluates its whole prompt.
    expect(await promptTokens(server!.url, wentOn.messages)).toBeGreaterThan(4 * wentOn.promptTokens[0]);
  });

  it("recalls memories while the user speaks and puts them before their words, so the stop leaves only the last words", async () => {
    const fact = "my sister Marta is allergic to garlic";
    const line = "what is my sister Marta allergic to";
    const recalled: string[] = [];
    const memory = {
      // Real recall finds a memory once the words point at it. The second one is what the
      // user goes on to say: recalled for earlier words, it stays (a block that changed
      // when the words came to equal it would be evaluated again after the stop).
      recall: async (text: string) => { recalled.push(text); return /marta/i.test(text) ? [fact, line] : []; },
      remember: async () => undefined,
      flush: async () => undefined,
    };
    const h = startHarness({ llm: { baseUrl: server!.url, ...LLM }, warmPromptCache: true, memory: { longTerm: memory } }, { speaker: new Speaker() });
    harnesses.push(h);
    await settle(h);
    await h.say("hello there");
    await settle(h);
    h.pipeline.queueFrame(frame("transcription", { text: "what is my", final: false, turnId: 2 }));
    await settle(h);
    h.pipeline.queueFrame(frame("transcription", { text: "what is my sister Marta", final: false, turnId: 2 }));
    await settle(h);
    expect(recalled.slice(1)).toEqual(["what is my", "what is my sister Marta"]); // (the first: "hello there", said as a final)
    const turn = (await h.say(line)).turn!;
    const sent = turn.messages[turn.messages.length - 1].content;
    expect(sent).toBe(`Context:\n- You remember: ${fact}\n- You remember: ${line}\n\n${line}`);
    // The memories were evaluated with the interim: the stop leaves the words after it and the closing tokens.
    const block = await tokens(server!.url, `Context:\n- You remember: ${fact}\n- You remember: ${line}\n\n`);
    expect(turn.promptTokens[0]).toBeLessThanOrEqual((await tokens(server!.url, " allergic to")) + (await closing(server!.url)) + 1);
    expect(turn.promptTokens[0]).toBeLessThan(block);
    // The history keeps the block as sent: the next turn finds all of it cached.
    await settle(h);
    const next = (await h.say("thanks")).turn!;
    expect(next.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual(["hello there", sent, "thanks"]);
    expect(next.promptTokens[0]).toBeLessThanOrEqual((await tokens(server!.url, "thanks")) + (await closing(server!.url)) + 1);
  });

  it("does not hold an interim's warm for a slow recall: the words go after a short wait, and again with a memory the recall adds", async () => {
    const fact = "my sister Marta is allergic to garlic";
    let release: (found: string[]) => void = () => undefined;
    const memory = {
      recall: (text: string) => (text === "hello there" ? Promise.resolve([]) : new Promise<string[]>((resolve) => (release = resolve))),
      remember: async () => undefined,
      flush: async () => undefined,
    };
    const h = startHarness({ llm: { baseUrl: server!.url, ...LLM }, warmPromptCache: true, memory: { longTerm: memory, recallTimeoutMs: 60_000, interimRecallWaitMs: 100 } }, { speaker: new Speaker() });
    harnesses.push(h);
    await settle(h);
    const first = (await h.say("hello there")).turn!;
    await settle(h);
    const slotTokens = async () => ((await (await fetch(`${server!.url}/slots`)).json()) as { id: number; n_prompt_tokens?: number }[]).find((x) => x.id === 0)!.n_prompt_tokens!;
    const upTo = async (user: string) => {
      const { prompt } = await post<{ prompt: string }>(`${server!.url}/apply-template`, {
        messages: [...first.messages, { role: "assistant", content: h.twin.shortTerm.snapshot()[0].assistant }, { role: "user", content: `${user}MARK` }], tools: TOOLS, tool_choice: "auto",
      });
      return tokens(server!.url, prompt.slice(0, prompt.indexOf("MARK")));
    };
    h.pipeline.queueFrame(frame("transcription", { text: "what is my sister Marta", final: false, turnId: 2 }));
    await h.pipeline.idle();
    await new Promise((r) => setTimeout(r, 300)); // past the wait for the recall, which is still out
    await settle(h);
    expect((await slotTokens()) - (await upTo("what is my sister Marta"))).toBeGreaterThanOrEqual(0); // (+1: the BOS)
    expect((await slotTokens()) - (await upTo("what is my sister Marta"))).toBeLessThanOrEqual(1);
    release([fact]);
    await new Promise((r) => setTimeout(r, 50));
    await settle(h);
    const withBlock = await upTo(`Context:\n- You remember: ${fact}\n\nwhat is my sister Marta`);
    expect((await slotTokens()) - withBlock).toBeGreaterThanOrEqual(0);
    expect((await slotTokens()) - withBlock).toBeLessThanOrEqual(1);
  });

  it("prepares the history the turn will carry once the short-term window is full (its oldest turn left out)", async () => {
    const h = startHarness({ llm: { baseUrl: server!.url, ...LLM }, warmPromptCache: true, memory: { shortTermTurns: 2 } }, { speaker: new Speaker() });
    harnesses.push(h);
    await settle(h);
    for (const line of ["my name is Ana", "I live by the sea", "I like fish"]) {
      await h.say(line);
      await settle(h);
    }
    const line = "what should I cook tonight";
    h.pipeline.queueFrame(frame("transcription", { text: line, final: false, turnId: 9, atPause: true }));
    await settle(h);
    // What the slot holds now is what was prepared.
    const slots = await (await fetch(`${server!.url}/slots`)).json() as { id: number; n_prompt_tokens?: number }[];
    const prepared = slots.find((x) => x.id === 0)!.n_prompt_tokens!;
    const turn = (await h.say(line)).turn!;
    // The window dropped "my name is Ana" from this turn's prompt, and the prepared prompt
    // did too: it is exactly the completion's (which then evaluates its last token only).
    expect(turn.messages.some((m) => m.content === "my name is Ana")).toBe(false);
    const whole = await promptTokens(server!.url, turn.messages);
    expect(prepared - whole).toBeGreaterThanOrEqual(0); // (+1: the BOS the server adds)
    expect(prepared - whole).toBeLessThanOrEqual(1);
    expect(turn.promptTokens[0]).toBeLessThanOrEqual(1);
  });

  it("keeps a cut reply's heard words as the model wrote them, so the server's cached tokens still match", () => {
    // The model's words carry their leading space; the speaker reports clauses trimmed.
    expect(heardReply(" Grill the fish, with lemon and thyme.", ["Grill the fish,", "with"])).toBe(" Grill the fish, with");
    expect(heardReply(" Grill   the fish", ["Grill the"])).toBe(" Grill   the");
    // Words the output changed (no longer the model's text): the heard words as reported.
    expect(heardReply(" **Grill** the fish", ["Grill the"])).toBe("Grill the");
    expect(heardReply(" Grill the fish", ["Boil the"])).toBe("Boil the");
  });

  it("keeps the reply's leading space that llama-server's chat parser drops from the content, as its cache holds it", async () => {
    const { createServer } = await import("node:http");
    // llama-server's stream as it is with tools (observed on the lab's Qwen2.5 stand-in):
    // the content loses the first token's space; n_probs' logprobs carry the token's text.
    const pieces = [["Grill", " Grill"], [" the", " the"], [" fish.", " fish."]];
    const bodies: Record<string, unknown>[] = [];
    const fake = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        bodies.push(JSON.parse(body));
        res.writeHead(200, { "content-type": "text/event-stream" });
        for (const [content, token] of pieces) {
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, logprobs: { content: [{ id: 1, token, bytes: [...Buffer.from(token)], prob: 1 }] } }] })}\n\n`);
        }
        res.end('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n');
      });
    });
    await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
    try {
      const baseUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
      const whole = startHarness({ llm: { baseUrl, maxTokens: 8 } }, { speaker: new Speaker() });
      harnesses.push(whole);
      expect((await whole.say("what should I cook")).text).toBe("Grill the fish.");
      expect(whole.twin.shortTerm.snapshot()[0].assistant).toBe(" Grill the fish.");
      expect(bodies[0]).toMatchObject({ n_probs: 1, post_sampling_probs: true });
      const cut = startHarness({ llm: { baseUrl, maxTokens: 8 } }, { speaker: new PartialSpeaker(2) });
      harnesses.push(cut);
      cut.pipeline.queueFrame(frame("bot-started-speaking"), "upstream"); // audio goes out: only reported words count
      await cut.say("what should I cook");
      expect(cut.twin.shortTerm.snapshot()[0].assistant).toBe(" Grill the");
    } finally {
      fake.close();
    }
  });

  it("after a reply is cut, the user's first interim transcript warms the history's new end and their words in one evaluation", async () => {
    const speaker = new PartialSpeaker(2);
    const h = startHarness({ llm: { baseUrl: server!.url, ...LLM, maxTokens: 12 }, warmPromptCache: true }, { speaker });
    harnesses.push(h);
    await settle(h);
    h.pipeline.queueFrame(frame("bot-started-speaking"), "upstream"); // audio goes out: only reported words count
    const answered = (await h.say("what should I cook tonight")).turn!;
    await settle(h);
    const slotTokens = async () => ((await (await fetch(`${server!.url}/slots`)).json()) as { id: number; n_prompt_tokens?: number }[]).find((x) => x.id === 0)!.n_prompt_tokens!;
    const beforeCut = await slotTokens();
    // The user talks over the reply: nothing is evaluated until their words come.
    h.pipeline.queueFrame(frame("interruption"));
    await h.pipeline.idle();
    await new Promise((r) => setTimeout(r, 200));
    await settle(h);
    expect(await slotTokens()).toBe(beforeCut);
    const [cut] = h.twin.shortTerm.snapshot();
    expect(speaker.spoken).toHaveLength(2);
    expect(cut.assistant.trim()).toBe(speaker.spoken.join("").trim());
    expect(answered.generated.startsWith(cut.assistant.trimStart())).toBe(true);
    expect(cut.assistant.length).toBeLessThan(answered.generated.length);
    // Their first interim transcript: the slot then holds the history as the next turn sends it, up to these words.
    h.pipeline.queueFrame(frame("transcription", { text: "and for dessert", final: false, turnId: 2 }));
    await settle(h);
    const { prompt } = await post<{ prompt: string }>(`${server!.url}/apply-template`, {
      messages: [...answered.messages.slice(0, 2), { role: "assistant", content: cut.assistant }, { role: "user", content: "and for dessertMARK" }], tools: TOOLS, tool_choice: "auto",
    });
    const next = await tokens(server!.url, prompt.slice(0, prompt.indexOf("MARK")));
    expect((await slotTokens()) - next).toBeGreaterThanOrEqual(0); // (+1: the BOS the server adds)
    expect((await slotTokens()) - next).toBeLessThanOrEqual(1);
  });

  it("stops generating as soon as speech starts over a bot gone quiet mid-answer, and evaluates the history's end as cut there before the barge-in is sure", async () => {
    const speaker = new Speaker();
    const h = startHarness({ llm: { baseUrl: server!.url, ...LLM, maxTokens: 400 }, warmPromptCache: true }, { speaker });
    harnesses.push(h);
    await settle(h);
    // Audio went out, then the bot went quiet: the reply is generated slower than it is spoken.
    h.pipeline.queueFrame(frame("bot-started-speaking"), "upstream");
    h.pipeline.queueFrame(frame("bot-stopped-speaking"), "upstream");
    const texts = () => h.out.filter((f) => f.type === "llm-text").length;
    const held = new Promise<void>((resolve) => {
      const original = h.out.push.bind(h.out);
      h.out.push = (...items) => {
        const n = original(...items);
        if (items.some((f) => f.type === "llm-text") && speaker.spoken.length === 3) {
          h.pipeline.queueFrame(frame("barge-in-pending"));
          resolve();
        }
        return n;
      };
    });
    h.pipeline.queueFrame(frame("transcription", { text: "tell me everything you know", final: true, turnId: 1 }));
    await held;
    await new Promise((r) => setTimeout(r, 300));
    const atPause = texts();
    await new Promise((r) => setTimeout(r, 700));
    // Nothing more was generated, and the answer has not ended: it is paused, not over.
    expect(texts()).toBe(atPause);
    expect(atPause).toBeLessThan(6);
    expect(h.out.some((f) => f.type === "llm-response-end")).toBe(false);
    await h.twin.warmed();
    // The slot holds the history as the next turn would send it were the reply cut here: what was heard, then the user's header.
    const heard = speaker.spoken.join("");
    const [turn] = h.twin.shortTerm.snapshot();
    expect(turn.assistant.trim()).toBe(heard.trim());
    const { prompt } = await post<{ prompt: string }>(`${server!.url}/apply-template`, {
      messages: [{ role: "system", content: DEFAULT_SYSTEM_PROMPT }, { role: "user", content: turn.user }, { role: "assistant", content: turn.assistant }, { role: "user", content: "MARK" }], tools: TOOLS, tool_choice: "auto",
    });
    const slot = ((await (await fetch(`${server!.url}/slots`)).json()) as { id: number; n_prompt_tokens?: number }[]).find((x) => x.id === 0)!.n_prompt_tokens!;
    const historyEnd = await tokens(server!.url, prompt.slice(0, prompt.indexOf("MARK")));
    expect(slot - historyEnd).toBeGreaterThanOrEqual(0); // (+1: the BOS the server adds)
    expect(slot - historyEnd).toBeLessThanOrEqual(1);
    // The barge-in is sure: the reply is what was heard, and the user's turn evaluates only its words and the closing.
    h.pipeline.queueFrame(frame("interruption"));
    await h.pipeline.idle();
    expect(h.twin.shortTerm.snapshot()[0].assistant).toBe(turn.assistant);
    const next = (await h.say("and for dessert")).turn!;
    expect(next.promptTokens[0]).toBeLessThanOrEqual((await tokens(server!.url, "and for dessert")) + (await closing(server!.url)) + 1);
  });

  it("restores the saved prefix into a restarted llama-server instead of evaluating it", async () => {
    const first = harness(true);
    await settle(first);
    await first.stop();
    const saved = readdirSync(slots).filter((f) => f.startsWith("aide-prefix-"));
    expect(saved.length).toBeGreaterThan(0);
    await server!.stop();
    server = await startTinyLlm({ tools: true, slotSavePath: slots });
    const h = harness(true);
    await settle(h);
    expect(h.logs.join("\n")).toMatch(/prompt cache: restored the \d+ prefix tokens llama-server saved \(aide-prefix-/);
    const turn = (await h.say("hello again")).turn!;
    expect(turn.promptTokens[0]).toBeLessThanOrEqual((await tokens(server.url, "hello again")) + (await closing(server.url)) + 1);
  });

  it("says once when a server cannot be warmed, and answers as before", async () => {
    const { createServer } = await import("node:http");
    // An OpenAI-compatible server without llama-server's own endpoints.
    const fake = createServer((req, res) => {
      if (req.url === "/v1/chat/completions") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end('data: {"choices":[{"delta":{"content":"Hi."}}]}\n\ndata: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n');
        return;
      }
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"code":404,"message":"File Not Found"}}');
    });
    await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
    const port = (fake.address() as { port: number }).port;
    try {
      const h = startHarness({ llm: { baseUrl: `http://127.0.0.1:${port}`, maxTokens: 8 }, warmPromptCache: true }, { speaker: new Speaker() });
      harnesses.push(h);
      await settle(h);
      h.pipeline.queueFrame(frame("transcription", { text: "what time", final: false, turnId: 1 }));
      await h.pipeline.idle();
      await settle(h);
      expect((await h.say("what time is it")).text).toBe("Hi.");
      const said = h.logs.filter((l) => l.startsWith("prompt cache:"));
      expect(said).toHaveLength(1);
      expect(said[0]).toMatch(/not warming http:\/\/127\.0\.0\.1:\d+ ahead of the user \(.*404.*\)/);
    } finally {
      fake.close();
    }
  });
});

