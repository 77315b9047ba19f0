// The cluster lab's own instruments: the LLM tap (what it forwards, forces and notes)
// against an upstream that records what it was sent, and the report's arithmetic and
// summary line against a conversation whose figures are known.
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLlmTap, type TapRecord } from "../../scripts/lab/llm-tap";
import { dominantStage, formatPlacement, summaryLine, turnFigures, type PlacementReport } from "../../scripts/lab/report";
import type { ConversationResult, TurnRecord } from "../../scripts/lab/conversation";
import { timelineSvg, turnRows } from "../../scripts/lab/timeline-svg";

interface Upstream { url: string; bodies: Record<string, unknown>[]; closedEarly: number; server: http.Server; asides: string[] }

/** Answers chat completions as llama-server streams them: two chunks 100 ms apart, then timings. */
async function fakeLlamaServer(slowMs = 100): Promise<Upstream> {
  const up: Upstream = { url: "", bodies: [], closedEarly: 0, server: http.createServer(), asides: [] };
  up.server.on("request", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || "{}");
      // llama-server's tokenizer and template, as a whitespace tokenizer and a ChatML-like template.
      if (req.url === "/tokenize" || req.url === "/apply-template") {
        up.asides.push(req.url === "/tokenize" ? `tokenize ${JSON.stringify(body.content)}` : "apply-template");
        const answer = req.url === "/tokenize"
          ? { tokens: (String(body.content).match(/\S+/g) ?? []).map((_, i) => i) }
          : { prompt: `<s> user\n${body.messages[0].content} </s>\n<s> assistant\n` };
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
        return;
      }
      up.bodies.push(body);
      res.writeHead(200, { "content-type": "text/event-stream" });
      let done = false;
      res.on("close", () => { if (!done) up.closedEarly++; });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { role: "assistant" } }] })}\n\n`);
      await new Promise((r) => setTimeout(r, slowMs));
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: "Hello" } }] })}\n\n`);
      await new Promise((r) => setTimeout(r, slowMs));
      res.write(`data: ${JSON.stringify({ choices: [{ delta: {}, finish_reason: "stop" }], timings: { prompt_n: 37, prompt_ms: 812.5, predicted_n: 9, predicted_ms: 3000, cache_n: 300 } })}\n\n`);
      res.write("data: [DONE]\n\n");
      done = true;
      res.end();
    });
  });
  await new Promise<void>((r) => up.server.listen(0, "127.0.0.1", () => r()));
  up.url = `http://127.0.0.1:${(up.server.address() as AddressInfo).port}`;
  return up;
}

const chat = (tools: boolean) => JSON.stringify({
  messages: [{ role: "user", content: "hi" }],
  stream: true,
  ...(tools ? { tools: [{ type: "function", function: { name: "describe_scene", parameters: { type: "object", properties: {} } } }], tool_choice: "auto" } : {}),
});

describe("the lab's LLM tap", () => {
  let up: Upstream;
  let tap: http.Server;
  let tapUrl: string;
  let dir: string;
  const log = () => join(dir, "llm.jsonl");
  const records = (): TapRecord[] => readFileSync(log(), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "aide-tap-"));
    up = await fakeLlamaServer();
    tap = await startLlmTap({ host: "127.0.0.1", port: 0 }, up.url, log(), { bannedWhenForcing: [220, 198] });
    tapUrl = `http://127.0.0.1:${(tap.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    tap.closeAllConnections();
    await new Promise((r) => tap.close(r));
    up.server.closeAllConnections();
    await new Promise((r) => up.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes a streamed completion through unchanged and notes its first token, end and llama-server's timings", async () => {
    const before = performance.timeOrigin + performance.now();
    const res = await fetch(`${tapUrl}/v1/chat/completions`, { method: "POST", body: chat(true), headers: { "content-type": "application/json" } });
    const text = await res.text();
    expect(text).toContain('"content":"Hello"');
    expect(text).toContain("[DONE]");
    expect(up.bodies[0]).toMatchObject({ tool_choice: "auto" }); // not forced: untouched
    const [r] = records();
    expect(r.forcedTool).toBe(false);
    expect(r.promptTokens).toBe(37);
    expect(r.predictedTokens).toBe(9);
    expect(r.cachedTokens).toBe(300);
    expect(r.asked).toBeGreaterThanOrEqual(before - 1);
    // The role-only chunk is not a token; "Hello" came ~100 ms after it.
    expect(r.firstToken! - r.asked).toBeGreaterThanOrEqual(90);
    expect(r.ended - r.firstToken!).toBeGreaterThanOrEqual(90);
  });

  it("notes the newest user message's words (without its context block) and the template's closing, in the model's tokens", async () => {
    const content = "Context:\n- You remember: my sister Marta is allergic to garlic\n\nwhat is she allergic to";
    const body = JSON.stringify({ messages: [{ role: "user", content: "earlier words here" }, { role: "assistant", content: "ok" }, { role: "user", content }], stream: true });
    await (await fetch(`${tapUrl}/v1/chat/completions`, { method: "POST", body })).text();
    await (await fetch(`${tapUrl}/v1/chat/completions`, { method: "POST", body: chat(false) })).text();
    await new Promise((r) => setTimeout(r, 100));
    const [first, second] = records();
    expect(first).toMatchObject({ recalled: 1, userWordTokens: 5, closingTokens: 3 }); // "</s>", "<s>", "assistant"
    expect(second).toMatchObject({ recalled: 0, userWordTokens: 1, closingTokens: 3 });
    // The template's closing is asked once; the chat completions reached llama-server untouched.
    expect(up.asides.filter((a) => a === "apply-template")).toHaveLength(1);
    expect(up.asides).toContain('tokenize "what is she allergic to"');
    expect(up.bodies).toHaveLength(2);
  });

  it("forces a tool call on the next completion that offers tools, once", async () => {
    expect((await fetch(`${tapUrl}/lab/force-tool`, { method: "POST" })).status).toBe(400); // which tool?
    expect((await fetch(`${tapUrl}/lab/force-tool?name=describe_scene`, { method: "POST" })).status).toBe(204);
    await (await fetch(`${tapUrl}/v1/chat/completions`, { method: "POST", body: chat(false) })).text(); // no tools: left alone
    await (await fetch(`${tapUrl}/v1/chat/completions`, { method: "POST", body: chat(true) })).text();
    await (await fetch(`${tapUrl}/v1/chat/completions`, { method: "POST", body: chat(true) })).text();
    expect(up.bodies.map((b) => b.tool_choice)).toEqual([undefined, "required", "auto"]);
    // Prefilled with the call's marker, whitespace banned, the tool's name favoured.
    expect(up.bodies[1].logit_bias).toEqual([[220, false], [198, false], ["describe_scene", 100]]);
    expect((up.bodies[1].messages as unknown[]).slice(-1)).toEqual([{ role: "assistant", content: "<tool_call>\n" }]);
    expect(up.bodies[2].logit_bias).toBeUndefined();
    expect(records().map((r) => r.forcedTool)).toEqual([false, true, false]);
  });

  it("cancels the completion upstream when the agent closes the stream (barge-in)", async () => {
    const ac = new AbortController();
    const res = await fetch(`${tapUrl}/v1/chat/completions`, { method: "POST", body: chat(true), signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await new Promise((r) => setTimeout(r, 400));
    expect(up.closedEarly).toBe(1);
    // ...and is still noted, as cancelled.
    expect(records()).toEqual([expect.objectContaining({ cancelled: true, forcedTool: false })]);
  });
});

describe("the lab's report", () => {
  const t0 = 1_700_000_000_000;
  /** Turn i: the user stops at t, the VAD hears it 0.6 s later, ..., first audio at t + v2v[i]. */
  function conversation(v2v: number[]): { conversation: ConversationResult; llm: TapRecord[] } {
    const turns: TurnRecord[] = [];
    const llm: TapRecord[] = [];
    v2v.forEach((wait, i) => {
      const speechStart = t0 + i * 60_000;
      const stop = speechStart + 2000;
      const first = stop + wait * 1000;
      turns.push({
        index: i, line: `line ${i}`, kind: "spoken", session: i < 5 ? 1 : 2, speechStart, speechEnd: stop, firstAudio: first, botStopped: first + 4000,
        report: { turnId: i + 1, at: { "user-stopped-speaking": stop + 600, "transcript-final": stop + 900, "llm-first-token": first - 800, "tts-first-audio": first - 50, "bot-started-speaking": first - 10 } },
      });
      llm.push({ path: "/v1/chat/completions", asked: stop + 1000, firstToken: first - 800, ended: first + 3000, status: 200, forcedTool: false, promptTokens: 20 + i, promptMs: 1000, predictedTokens: 32, predictedMs: 16_000 });
    });
    return { conversation: { turns, startedAt: t0, endedAt: t0 + v2v.length * 60_000 }, llm };
  }

  it("computes each turn's figures from the phone, the agent and the tap, and prints the summary line in the issue's exact form", () => {
    const { conversation: c, llm } = conversation([30, 4, 6, 5, 7, 20, 8, 3]);
    const turns = turnFigures(c, llm);
    expect(turns[1]).toMatchObject({ vadEnd: 0.6, transcript: 0.9, llmAsked: 1, firstToken: 3.2, voiceToVoice: 4, promptTokens: 21, genTokS: 2 });
    const report: PlacementReport = { name: "jobs-today", describe: "", turns, cpu: [], llm, conversation: c };
    // Later turns (not the first of session 1 or 2): 4, 6, 5, 7, 8, 3 → p50 5, p95 8; first turn 30.
    expect(summaryLine(report)).toBe("bench:cluster placement=jobs-today v2v_p50_s=5.00 v2v_p95_s=8.00 first_turn_s=30.00 prompt_after_stop_p95=27 gen_tok_s=2.00");
    expect(summaryLine(report)).toMatch(/^bench:cluster placement=\S+ v2v_p50_s=[\d.]+ v2v_p95_s=[\d.]+ first_turn_s=[\d.]+ prompt_after_stop_p95=\d+ gen_tok_s=[\d.]+$/);
    expect(dominantStage(report)).toMatch(/^LLM prompt evaluation to first token: /);
  });

  it("counts the part of a prompt-cache warm-up that ran after the user stopped, not the part before", () => {
    const { conversation: c, llm } = conversation([30, 4]);
    const stop = c.turns[1].speechEnd;
    // 40 tokens evaluated from 3 s before the stop to 1 s after it: 10 of them after; one done before the stop counts nothing.
    const warmups: TapRecord[] = [
      { path: "/completion", asked: stop - 3000, ended: stop + 1000, status: 200, forcedTool: false, warm: true, promptTokens: 40 },
      { path: "/completion", asked: stop - 5000, ended: stop - 4000, status: 200, forcedTool: false, warm: true, promptTokens: 90 },
    ];
    const plain = turnFigures(c, llm)[1];
    const turn = turnFigures(c, [...llm, ...warmups])[1];
    expect(turn.warmedAfterStop).toBe(10);
    expect(turn.promptTokens).toBe(plain.promptTokens! + 10);
    // A warm-up is not the turn's completion: when the LLM was asked stays the chat's.
    expect(turn.llmAsked).toBe(plain.llmAsked);
  });

  it("puts the turns whose prompt carried a recalled memory or a tool's answer apart from those where only the user's words were new", () => {
    const { conversation: c, llm } = conversation([30, 4, 6, 5, 7]);
    // Turns 3 and 4 recalled memories (their completions' promptTokens: 22 and 23); turn 2 (21) and 5 (24) did not.
    llm[2].recalled = 2;
    llm[3].recalled = 1;
    const turns = turnFigures(c, llm);
    const text = formatPlacement({ name: "jobs-today", describe: "", turns, cpu: [], llm, conversation: c }, "calibrated");
    expect(text).toContain("prompt tokens evaluated after the user stopped: p50 22, p95 24");
    expect(text).toContain("turns where only the user's words were new: p50 21, p95 24 (2 turns); with a recalled memory or a tool's answer in the prompt: p50 22, p95 23 (2 turns)");
  });

  it("holds each turn's prompt tokens after the stop to the issue's bound: the utterance's last 16 tokens and the closing", () => {
    const { conversation: c, llm } = conversation([30, 4, 6, 5, 7]);
    // Evaluated 21, 22, 23, 24 (turns 2-5). Words: 3 (bound 3 + 5 = 8), 20 (16 + 5 = 21), 18 (21), 19 (21).
    [[1, 3], [2, 20], [3, 18], [4, 19]].forEach(([i, words]) => Object.assign(llm[i], { userWordTokens: words, closingTokens: 5 }));
    const turns = turnFigures(c, llm);
    expect(turns.slice(1).map((t) => t.promptBound)).toEqual([8, 21, 21, 21]);
    const text = formatPlacement({ name: "jobs-today", describe: "", turns, cpu: [], llm, conversation: c }, "calibrated");
    expect(text).toContain("against the bound (the utterance's last 16 tokens + the template's 5 closing tokens, per turn): within it in 0 of 4 turns; evaluated minus bound p50 2, p95 13 (≤ 0: within)");
    // Unknown without the tap's counts: no verdict rather than a wrong one.
    expect(formatPlacement({ name: "x", describe: "", turns: turnFigures(c, conversation([30, 4, 6, 5, 7]).llm), cpu: [], llm, conversation: c }, "calibrated")).not.toContain("against the bound");
  });

  it("says why a turn went over the bound: a tool's answer, and how long before the stop the LLM was done with the previous answer", () => {
    const { conversation: c, llm } = conversation([30, 4, 6, 5, 7]);
    [[1, 3], [2, 20], [3, 18], [4, 19]].forEach(([i, words]) => Object.assign(llm[i], { userWordTokens: words, closingTokens: 5 }));
    const stop = (i: number) => c.turns[i].speechEnd;
    // Turn 3 called a tool (its answer: a second completion of 10 tokens), and turn 2's answer ran until 0.5 s after turn 3's stop.
    llm[1].ended = stop(2) + 500;
    llm.push({ path: "/v1/chat/completions", asked: stop(2) + 8000, ended: stop(2) + 9000, status: 200, forcedTool: false, promptTokens: 10 });
    llm.sort((a, b) => a.asked - b.asked);
    const turns = turnFigures(c, llm);
    expect(turns.slice(1).map((t) => [t.promptTokens, t.toolRoundTokens, t.llmFreeBeforeStop])).toEqual([[21, undefined, 27], [32, 10, -0.5], [23, undefined, 51], [24, undefined, 52]]);
    const text = formatPlacement({ name: "jobs-today", describe: "", turns, cpu: [], llm, conversation: c }, "calibrated");
    expect(text).toContain("    over it: turn 2 +13 (the LLM done with the previous answer 27.00 s before the stop); " +
      "turn 3 +11 (10 of them the tool's answer, the LLM done with the previous answer 0.50 s after the stop); " +
      "turn 4 +2 (the LLM done with the previous answer 51.00 s before the stop); turn 5 +3 (the LLM done with the previous answer 52.00 s before the stop)");
  });

  it("draws a turn as one row per node with a bar per stage", () => {
    const { conversation: c, llm } = conversation([30, 4]);
    const rows = turnRows(c.turns[1], [llm[1]], { agent: "n1", llm: ["n2", "n3"] });
    expect(rows.map((r) => r.name)).toEqual(["phone (user)", "n1 (agent)", "n2 (LLM part 1)", "n3 (LLM part 2)"]);
    expect(rows[1].bars.map((b) => b.label)).toEqual(["VAD waits for silence", "STT", "recall + prompt", "first clause → TTS", "audio out"]);
    expect(rows[2].bars[0]).toMatchObject({ label: "prompt eval (21 tok)", start: 3, end: 5.2 });
    const svg = timelineSvg("t", [{ title: "p", rows, wait: 4 }], "note");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<rect /g)!.length).toBeGreaterThan(10);
    expect(svg).toContain("the user waits 4.0 s");
  });
});
