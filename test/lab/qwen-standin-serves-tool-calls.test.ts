// The Qwen2.5-1.5B stand-in in llama-server (the core2 build): it loads with --jinja and
// the real Qwen2.5 template (tools, <tool_call>), answers a chat completion, and a
// grammar-forced describe_scene call comes back parsed as a tool call — what the agent
// relies on. Slow on purpose-small settings: -c 1024, 2 threads, few tokens.
// @slow: loads the 1.5B-parameter stand-in into llama-server (about 15 s alone)
import { startLlamaServer, RunningProcess } from "../../lib/llama";
import { readGgufHeader } from "../../scripts/models/gguf/reader";
import { ensureStandIn, whitespaceTokenIds } from "../../scripts/models/standins";
import { postJson } from "../support/chat";

const DESCRIBE_SCENE = {
  type: "function",
  function: {
    name: "describe_scene",
    description: "Describe what the camera sees right now.",
    parameters: { type: "object", properties: {} },
  },
};

interface ChatResponse {
  choices: { finish_reason: string; message: { content: string | null; tool_calls?: { function: { name: string; arguments: string } }[] } }[];
  usage: { completion_tokens: number; prompt_tokens: number };
}


describe("the Qwen2.5-1.5B stand-in in llama-server", () => {
  let server: RunningProcess;
  let tokens: string[];

  beforeAll(async () => {
    const model = await ensureStandIn("qwen2.5-1.5b");
    tokens = readGgufHeader(model).metadata["tokenizer.ggml.tokens"].value as string[];
    server = await startLlamaServer({ model, threads: 2, ctxSize: 1024, parallel: 1, cacheRamMiB: 0, readyTimeoutMs: 180_000 });
  }, 40 * 60_000);

  afterAll(async () => { await server?.stop(); });

  it("uses the model's own Qwen2.5 template, which knows tools", async () => {
    const props = (await (await fetch(`${server.url}/props`)).json()) as { chat_template: string; chat_template_caps: Record<string, boolean> };
    expect(props.chat_template).toContain("<tool_call>");
    expect(props.chat_template).toContain("You are Qwen, created by Alibaba Cloud");
    expect(props.chat_template_caps).toMatchObject({ supports_tools: true, supports_tool_calls: true });
    const applied = await postJson<{ prompt: string }>(`${server.url}/apply-template`, {
      messages: [{ role: "user", content: "What do you see?" }], tools: [DESCRIBE_SCENE],
    });
    expect(applied.body.prompt).toMatch(/^<\|im_start\|>system\nYou are Qwen, created by Alibaba Cloud\. You are a helpful assistant\.\n\n# Tools/);
    expect(applied.body.prompt).toContain('"name": "describe_scene"');
  });

  it("answers a chat completion", async () => {
    const r = await postJson<ChatResponse>(`${server.url}/v1/chat/completions`, {
      messages: [{ role: "user", content: "What do you see?" }], max_tokens: 4,
    }, 300_000);
    expect(r.status).toBe(200);
    expect(r.body.choices[0].finish_reason).toBe("length");
    expect(r.body.usage.completion_tokens).toBe(4);
    expect(r.body.usage.prompt_tokens).toBeGreaterThan(20); // the template's default system prompt came along
  }, 300_000);

  it("returns a grammar-forced describe_scene call parsed as a tool call", async () => {
    // tool_choice "required" lets Qwen write text before "<tool_call>\n" (llama.cpp's
    // grammar starts with an until-<tool_call> rule), and random weights would fill that
    // with newlines forever. Prefilling the assistant turn with the marker leaves the
    // grammar only the call itself; banning whitespace-only tokens (which the grammar
    // allows between JSON tokens, and the random model prefers) keeps a call ~25 tokens.
    // The grammar allows any number of calls (parallel_tool_calls does not change it in
    // this llama.cpp) and the random model keeps calling: max_tokens ends it, and the
    // parser returns the complete calls.
    const ban = whitespaceTokenIds(tokens);
    expect(ban.length).toBeGreaterThan(10);
    // The random model often samples on past the end of the call grammar, and this
    // llama.cpp then answers 500 "Unexpected empty grammar stack" (seen in one CI run in
    // four; greedy sampling, a seed, an EOS bias or parallel calls did not avoid it). That
    // one upstream failure is retried, a few times; any other answer fails the test.
    let r!: { status: number; body: ChatResponse };
    for (let attempt = 0; attempt < 6; attempt++) {
      r = await postJson<ChatResponse>(`${server.url}/v1/chat/completions`, {
        messages: [{ role: "user", content: "What do you see?" }, { role: "assistant", content: "<tool_call>\n" }],
        tools: [DESCRIBE_SCENE],
        tool_choice: "required",
        logit_bias: ban.map((id) => [id, false]),
        max_tokens: 40,
      }, 600_000);
      if (!(r.status === 500 && /empty grammar stack/.test(JSON.stringify(r.body)))) break;
    }
    // on failure, the server's answer shows (its error names the cause)
    expect({ status: r.status, error: r.status === 200 ? undefined : r.body }).toEqual({ status: 200, error: undefined });
    const calls = r.body.choices[0].message.tool_calls ?? [];
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls[0].function.name).toBe("describe_scene");
    expect(JSON.parse(calls[0].function.arguments)).toEqual({});
    expect(r.body.choices[0].message.content ?? "").toBe("");
  }, 600_000);
});
