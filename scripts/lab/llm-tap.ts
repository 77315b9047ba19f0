// The cluster lab's tap on the LLM: an HTTP pass-through in front of llama-server that
// notes, for every chat completion, when it was asked, when its first token and its end
// came back, and llama-server's own timings (prompt tokens evaluated, prompt and
// generation ms). It runs in the LLM head's network namespace but outside the node's CPU
// budget (it is the lab's instrument, not part of Aide), and adds one loopback hop.
//
// A turn the bench wants to go through describe_scene is forced here: random weights never
// choose a tool, so `POST /lab/force-tool?name=describe_scene` makes the next chat
// completion that offers tools use `tool_choice: "required"` — llama-server then
// constrains the output to a tool call with its own grammar, so the call costs what a
// real one costs. Three more things make it a call with random weights: this llama.cpp's
// "required" grammar still lets text come before "<tool_call>\n" (random weights fill it
// with newlines until max_tokens), so the assistant turn is prefilled with that marker;
// whitespace-only tokens, which the grammar allows between JSON tokens and random weights
// favour, are banned (ids given at start, from the model's vocabulary); and the tool's
// name tokens get +100, since it takes no named tool_choice and the grammar alone would
// let random weights pick any offered tool.
//
//   node -r ts-node/register/transpile-only scripts/lab/llm-tap.ts LISTEN_HOST:PORT UPSTREAM_URL LOG.jsonl [BANNED_IDS.json]
import { appendFileSync, readFileSync } from "node:fs";
import * as http from "node:http";

export interface TapRecord {
  path: string;
  /** Unix epoch ms. */
  asked: number;
  firstToken?: number;
  ended: number;
  status: number;
  forcedTool: boolean;
  /** A prompt-cache warm-up (POST /completion with n_predict 0), not an answer. */
  warm?: boolean;
  /** Long-term memories the agent put in the newest user message ("- You remember: …" lines). */
  recalled?: number;
  /** The newest user message's words (its context block left out), in the model's tokens. */
  userWordTokens?: number;
  /** Tokens the chat template puts after a user message's text (end of message, the assistant's opening). */
  closingTokens?: number;
  promptTokens?: number;
  promptMs?: number;
  predictedTokens?: number;
  predictedMs?: number;
  cachedTokens?: number;
  /** The agent closed the stream before the end (the completion was cancelled). */
  cancelled?: boolean;
  /** When no timings came: the end of what came, to see why. */
  tail?: string;
}

const now = () => performance.timeOrigin + performance.now();

interface SseTimings { prompt_n?: number; prompt_ms?: number; predicted_n?: number; predicted_ms?: number; cache_n?: number }

/** Reads llama-server's SSE chunks as they pass: the first token and the final timings. */
function watchStream(record: TapRecord): (chunk: Buffer) => void {
  let pending = "";
  return (chunk) => {
    pending += chunk.toString("utf8");
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") continue;
      try {
        const event = JSON.parse(data) as { choices?: { delta?: { content?: string; tool_calls?: unknown[] } }[]; timings?: SseTimings };
        const delta = event.choices?.[0]?.delta;
        if (record.firstToken === undefined && (delta?.content || delta?.tool_calls?.length)) record.firstToken = now();
        if (event.timings) applyTimings(record, event.timings);
      } catch {
        // not JSON: llama-server's error lines pass through untouched
      }
    }
  };
}

function applyTimings(record: TapRecord, t: SseTimings): void {
  record.promptTokens = t.prompt_n;
  record.promptMs = t.prompt_ms;
  record.predictedTokens = t.predicted_n;
  record.predictedMs = t.predicted_ms;
  record.cachedTokens = t.cache_n;
}

/** What the agent sends as the user's words: the message after its context block (twin/prompt.ts). */
export function userWords(content: string): string {
  return content.startsWith("Context:\n") && content.includes("\n\n") ? content.slice(content.indexOf("\n\n") + 2) : content;
}

async function upstreamJson(upstream: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(new URL(path, upstream), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

async function tokenCount(upstream: string, text: string): Promise<number> {
  const { tokens } = await upstreamJson(upstream, "/tokenize", { content: text, add_special: false, parse_special: true });
  if (!Array.isArray(tokens)) throw new Error("/tokenize answered without tokens");
  return tokens.length;
}

/** The template's tokens after a user message's text, rendered by the server's own template. */
async function closingTokens(upstream: string): Promise<number> {
  const { prompt } = await upstreamJson(upstream, "/apply-template", { messages: [{ role: "user", content: "LABMARK" }] });
  if (typeof prompt !== "string" || !prompt.includes("LABMARK")) throw new Error("/apply-template answered without the message");
  return tokenCount(upstream, prompt.slice(prompt.indexOf("LABMARK") + "LABMARK".length));
}

export function startLlmTap(listen: { host: string; port: number }, upstream: string, logFile: string, opts: { bannedWhenForcing?: number[] } = {}): Promise<http.Server> {
  const target = new URL(upstream);
  let forceNext: string | undefined;
  let closing: Promise<number | undefined> | undefined;
  const server = http.createServer((req, res) => {
    if (req.method === "POST" && req.url?.startsWith("/lab/force-tool")) {
      const name = new URL(req.url, "http://tap").searchParams.get("name");
      if (!name || !/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
        res.writeHead(400, { "content-type": "text/plain" }).end("name the tool to force: POST /lab/force-tool?name=describe_scene");
        return;
      }
      forceNext = name;
      res.writeHead(204).end();
      return;
    }
    const body: Buffer[] = [];
    req.on("data", (b: Buffer) => body.push(b));
    req.on("end", () => {
      let payload = Buffer.concat(body);
      const record: TapRecord = { path: req.url ?? "/", asked: now(), ended: 0, status: 0, forcedTool: false };
      const chat = req.method === "POST" && (req.url ?? "").includes("/chat/completions");
      // The agent's prompt-cache warm-ups: what they evaluate after the user stopped counts too.
      const warm = req.method === "POST" && (req.url ?? "").startsWith("/completion");
      if (warm) record.warm = true;
      // The turn's words in tokens and the template's closing, for the report's bound on
      // what may be left to evaluate after the user stops (asked beside the completion,
      // on llama-server's HTTP side: no slot, no evaluation).
      let counted: Promise<unknown> = Promise.resolve();
      if (chat) {
        const json = JSON.parse(payload.toString("utf8")) as { stream?: boolean; timings_per_token?: boolean; tools?: unknown[]; tool_choice?: string; logit_bias?: unknown[]; messages?: unknown[] };
        // Timings in every chunk (llama-server's timings_per_token), so a completion the
        // agent cuts off (the user spoke again) still tells how many prompt tokens it
        // evaluated; the agent reads the last timings it sees, as before.
        if (json.stream) json.timings_per_token = true;
        const last = (json.messages ?? []).filter((m) => (m as { role?: string }).role === "user").pop() as { content?: unknown } | undefined;
        if (typeof last?.content === "string") {
          record.recalled = (last.content.match(/^- You remember: /gm) ?? []).length;
          closing ??= closingTokens(upstream).catch(() => undefined);
          counted = Promise.all([tokenCount(upstream, userWords(last.content)), closing]).then(([words, close]) => {
            record.userWordTokens = words;
            record.closingTokens = close;
          }, () => undefined);
        }
        if (forceNext && json.tools?.length && json.tool_choice !== "none") {
          json.tool_choice = "required";
          json.messages = [...(json.messages ?? []), { role: "assistant", content: "<tool_call>\n" }];
          json.logit_bias = [...(Array.isArray(json.logit_bias) ? json.logit_bias : []), ...(opts.bannedWhenForcing ?? []).map((id) => [id, false]), [forceNext, 100]];
          record.forcedTool = true;
          forceNext = undefined;
        }
        payload = Buffer.from(JSON.stringify(json));
      }
      const headers = { ...req.headers, host: target.host, "content-length": String(payload.length) };
      // Noted once, however the completion ends: whole, or cut off by the agent closing the
      // stream (a barge-in, or its reader letting go right after [DONE]).
      let noted = false;
      const note = (whole: Buffer[]) => {
        if (noted || !(chat || warm)) return;
        noted = true;
        record.ended = now();
        if (record.promptTokens === undefined && whole.length) {
          // A non-streaming answer carries its timings in the one JSON body.
          try {
            const json = JSON.parse(Buffer.concat(whole).toString("utf8")) as { timings?: SseTimings };
            if (json.timings) applyTimings(record, json.timings);
            record.firstToken ??= record.ended;
          } catch { /* SSE already parsed, or not JSON */ }
        }
        if (record.promptTokens === undefined && whole.length) record.tail = Buffer.concat(whole).toString("utf8").slice(-600);
        void counted.finally(() => appendFileSync(logFile, `${JSON.stringify(record)}\n`));
      };
      const whole: Buffer[] = [];
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers }, (upRes) => {
        record.status = upRes.statusCode ?? 0;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        const watch = chat ? watchStream(record) : undefined;
        upRes.on("data", (b: Buffer) => {
          watch?.(b);
          if (chat || warm) whole.push(b);
          res.write(b);
        });
        upRes.on("end", () => {
          note(whole);
          res.end();
        });
        upRes.on("close", () => note(whole));
      });
      up.on("error", (error) => {
        note(whole);
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`lab LLM tap: upstream ${upstream} failed: ${error.message}`);
      });
      // The agent closing the stream (barge-in) must cancel the completion upstream too.
      res.on("close", () => {
        if (!res.writableFinished) {
          record.cancelled = true;
          up.destroy();
          note(whole);
        }
      });
      up.end(payload);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}

if (require.main === module) {
  const [listen, upstream, logFile, banned] = process.argv.slice(2);
  const m = /^(.+):(\d+)$/.exec(listen ?? "");
  if (!m || !upstream || !logFile) {
    process.stderr.write("usage: llm-tap.ts LISTEN_HOST:PORT UPSTREAM_URL LOG.jsonl [BANNED_IDS.json]\n");
    process.exit(2);
  }
  const bannedWhenForcing = banned ? (JSON.parse(readFileSync(banned, "utf8")) as number[]) : [];
  startLlmTap({ host: m[1], port: Number(m[2]) }, upstream, logFile, { bannedWhenForcing })
    .then(() => process.stdout.write(`lab LLM tap on ${listen} → ${upstream}\n`))
    .catch((error) => {
      process.stderr.write(`lab LLM tap: ${(error as Error).message}\n`);
      process.exit(1);
    });
}
