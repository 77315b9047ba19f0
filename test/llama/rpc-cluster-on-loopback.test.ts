// Distributed inference for real: two ggml-rpc-server workers and llama-server --rpc,
// the legacy build and the tiny generated model, all on loopback.
import { RunningProcess, startLlamaServer, startRpcWorker } from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { postJson, streamChat } from "../support/chat";

describe("a llama.cpp RPC cluster on loopback", () => {
  const procs: RunningProcess[] = [];
  let head: RunningProcess;
  let workers: RunningProcess[];

  beforeAll(async () => {
    const model = await ensureTinyChatModel();
    workers = [await startRpcWorker({ threads: 1 }), await startRpcWorker({ threads: 1, cache: true })];
    procs.push(...workers);
    head = await startLlamaServer({ model, threads: 1, rpc: workers.map((w) => w.url), ctxSize: 2048 });
    procs.push(head);
  });
  afterAll(async () => { await Promise.all(procs.map((p) => p.stop())); });

  it("puts the model's layers on the RPC workers", () => {
    const log = head.log();
    expect(log).toMatch(/offloaded 5\/5 layers/);
    for (const w of workers) expect(log).toMatch(new RegExp(`RPC\\d\\[${w.url.replace(/\./g, "\\.")}\\] model buffer size = +[0-9.]+ MiB`));
  });

  it("streams a chat completion token by token as server-sent events", async () => {
    const s = await streamChat(head.url, { messages: [{ role: "user", content: "Tell me about your day." }], max_tokens: 12, temperature: 0 });
    expect(s.done).toBe(true);
    expect(s.chunks.length).toBe(12);
    expect(s.firstChunkMs).toBeLessThan(s.totalMs);
    expect(s.text.trim().split(/\s+/).length).toBeGreaterThan(1);
  });

  it("keeps to a JSON schema", async () => {
    const schema = {
      type: "object",
      properties: { answer: { enum: ["yes", "no", "maybe"] }, count: { type: "integer", minimum: 0, maximum: 9 } },
      required: ["answer", "count"], additionalProperties: false,
    };
    const r = await postJson<{ choices: { message: { content: string } }[] }>(`${head.url}/v1/chat/completions`, {
      messages: [{ role: "user", content: "Is there a cup? How many?" }], max_tokens: 64, temperature: 0,
      response_format: { type: "json_schema", json_schema: { name: "scene", schema } },
    });
    expect(r.status).toBe(200);
    const parsed = JSON.parse(r.body.choices[0].message.content);
    expect(["yes", "no", "maybe"]).toContain(parsed.answer);
    expect(Number.isInteger(parsed.count)).toBe(true);
    expect(Object.keys(parsed).sort()).toEqual(["answer", "count"]);
  });

  it("keeps to a GBNF grammar", async () => {
    const r = await postJson<{ content: string }>(`${head.url}/completion`, {
      prompt: "Answer: ", n_predict: 16, temperature: 0,
      grammar: 'root ::= ("yes" | "no") " " [0-9] [0-9]?',
    });
    expect(r.status).toBe(200);
    expect(r.body.content).toMatch(/^(yes|no) [0-9][0-9]?$/);
  });

  it("reuses the prompt cache for a second request sharing a long prefix", async () => {
    const history = Array.from({ length: 30 }, (_, i) => `Fact ${i}: the cup on table ${i} is near the chair.`).join(" ");
    const ask = (q: string) => postJson<{ timings: { prompt_n: number; cache_n: number } }>(`${head.url}/v1/chat/completions`, {
      messages: [{ role: "system", content: history }, { role: "user", content: q }], max_tokens: 1, temperature: 0, cache_prompt: true,
    });
    const first = await ask("What is on table three?");
    const second = await ask("And what about table seven?");
    expect(first.body.timings.prompt_n).toBeGreaterThan(300);
    expect(second.body.timings.cache_n).toBeGreaterThan(300);
    expect(second.body.timings.prompt_n).toBeLessThan(first.body.timings.prompt_n / 10);
  });
});
