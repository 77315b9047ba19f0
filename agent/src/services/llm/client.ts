import * as http from "node:http";
import * as https from "node:https";
import { abortError, isAbort, sleep, throwIfAborted } from "../../abort";
import { SseParser } from "./sse";
import type { ChatRequest, LlmEvent, LlmTimings, ToolCallRequest } from "./types";

/** Which server sits behind the URL: both speak OpenAI chat completions. */
export type LlmBackend = "llamacpp" | "primacpp";

/**
 * How the server takes tools. `native`: OpenAI `tools`/`tool_choice` (llama-server
 * `--jinja`). `prompt`: the tools are described in the system prompt and a call is
 * constrained with a `grammar` — for servers that refuse `tools`, like prima.cpp's rank 0
 * (HTTP 500 "Unsupported param: tools", shared/prima/FLAGS.md).
 */
export type ToolCallMode = "native" | "prompt";

/** prima.cpp's server refuses `tools`; llama-server (with `--jinja`) takes them. */
export function defaultToolCalls(backend: LlmBackend): ToolCallMode {
  return backend === "primacpp" ? "prompt" : "native";
}

export interface LlmClientOptions {
  /** e.g. `http://10.0.0.5:8080` (a trailing `/v1` is accepted). */
  baseUrl: string;
  model?: string;
  backend?: LlmBackend;
  /** Default: by backend (defaultToolCalls). */
  toolCalls?: ToolCallMode;
  /** llama-server slot kept for this conversation so its KV cache stays ours. */
  slotId?: number;
  /** Sent as a bearer token when the server was started with `--api-key`; never logged. */
  apiKey?: string;
  /** TCP connect (default 3 s). */
  connectTimeoutMs?: number;
  /** Request sent → response headers. llama-server answers a stream only once the prompt is evaluated, which takes minutes for a long prompt on a Core 2 (default 180 s). */
  firstResponseTimeoutMs?: number;
  /** Silence between two stream chunks (default 60 s). */
  idleTimeoutMs?: number;
  /**
   * Silence on an open request (before its headers or between two chunks) after which
   * the server is asked whether it still answers (default 10 s on primacpp; never on
   * llamacpp, see the constructor).
   */
  livenessIntervalMs?: number;
  /**
   * Bound on that question (default 30 s: llama-server answers /slots only between two
   * batches, and one batch of a long prompt can take tens of seconds on a Core 2 ring):
   * no answer means the server is hung and the request fails at once — a prima.cpp ring whose rank died stalls with no error while
   * `/health` stays 200, so the idle and first-response timeouts alone would take minutes.
   */
  livenessTimeoutMs?: number;
  /** Extra attempts after a connect error or a 503 (default 2). */
  retries?: number;
  /** First backoff; doubles each attempt (default 250 ms). */
  retryDelayMs?: number;
}

/** The backend could not be reached (after retries) or dropped the stream. */
export class LlmUnavailableError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = "LlmUnavailableError";
  }
}

/** The backend answered with an error status that retrying cannot fix (bad request, context too long). */
export class LlmRequestError extends Error {
  /** llama-server's error type, e.g. `exceed_context_size_error`. */
  readonly kind?: string;

  constructor(message: string, readonly status: number, kind?: string) {
    super(message);
    this.name = "LlmRequestError";
    this.kind = kind;
  }
}

/** What an abort of this client's work is called (`abortError`). */
const LLM_REQUEST = "LLM request";

const CONNECT_ERRORS = new Set([
  "ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND", "EPIPE", "ETIMEDOUT", "ECONNABORTED",
]);

interface Resolved {
  base: URL;
  agent: http.Agent;
  request: typeof http.request;
}

/**
 * Streaming OpenAI-compatible chat client for llama-server / prima.cpp rank 0.
 * One request at a time per conversation; `stream()` yields text as it arrives and
 * stops within the chunk in flight when its signal aborts.
 */
export class LlmClient {
  readonly options: Required<Omit<LlmClientOptions, "model" | "slotId" | "apiKey">> & Pick<LlmClientOptions, "model" | "slotId" | "apiKey">;
  /** Bound on noticing a hung server: silence, then an unanswered liveness question. */
  get livenessBoundMs(): number {
    return this.options.livenessIntervalMs + this.options.livenessTimeoutMs;
  }
  private readonly target: Resolved;

  constructor(options: LlmClientOptions) {
    const backend = options.backend ?? "llamacpp";
    this.options = {
      connectTimeoutMs: 3000,
      firstResponseTimeoutMs: 180_000,
      idleTimeoutMs: 60_000,
      retries: 2,
      retryDelayMs: 250,
      // Only a prima.cpp ring stalls silently with /health 200. llama-server answers /slots
      // only between two batches, and on a Core 2 one batch of a long prompt outlasts the
      // bound (the cluster lab measured 25 s for the ~290 tokens a full history re-costs on
      // one emulated node; a longer history or a slower node passes 30 s):
      // for llama.cpp the idle and first-response timeouts stay the guard.
      livenessIntervalMs: backend === "primacpp" ? 10_000 : Number.POSITIVE_INFINITY,
      livenessTimeoutMs: 30_000,
      ...options,
      backend,
      toolCalls: options.toolCalls ?? defaultToolCalls(backend),
    };
    this.target = resolveTarget(options.baseUrl);
  }

  /** Where requests go, for messages (no credentials in it). */
  get url(): string {
    return this.target.base.origin;
  }

  async *stream(request: ChatRequest, signal?: AbortSignal): AsyncGenerator<LlmEvent> {
    const body = JSON.stringify(this.body(request));
    const watch = new SilenceWatch(this, signal);
    try {
      const response = await watch.guard(() => this.openWithRetries(body, watch.signal));
      yield* watch.guardStream(this.readStream(response, watch.signal, () => watch.heard()));
    } finally {
      watch.stop();
    }
  }

  /**
   * Does the server's request loop still answer? `GET /slots` goes through llama-server's
   * task queue (`/health` does not, and stays 200 on a stalled prima.cpp ring), and unlike a
   * completion it does not wait for the one slot our own stream holds. Any HTTP answer
   * counts (a server without `/slots` answers 404): only silence is a hang.
   */
  async answers(timeoutMs = this.options.livenessTimeoutMs): Promise<boolean> {
    try {
      const res = await this.send("GET", "/slots", undefined, timeoutMs);
      res.resume();
      return true;
    } catch {
      return false;
    }
  }

  /** True when `GET /health` answers 200 within the connect timeout. */
  async healthy(): Promise<boolean> {
    return (await this.health()) === "ok";
  }

  /** "ok" when `GET /health` answers 200 within the connect timeout; else why not, for people (the agent's `/health`). */
  async health(): Promise<string> {
    const where = `${this.url}${this.target.base.pathname.replace(/\/$/, "")}/health`;
    try {
      const res = await this.send("GET", "/health", undefined, this.options.connectTimeoutMs);
      res.resume();
      return res.statusCode === 200 ? "ok" : `answered ${res.statusCode} at ${where}`;
    } catch (err) {
      return `unreachable at ${where}: ${describe(err)}`;
    }
  }

  /**
   * One JSON request to the server's own API (`/apply-template`, `/completion`, `/slots`),
   * answered with its JSON body. A refusal is an LlmRequestError with the server's
   * message; no answer is an LlmUnavailableError. No retries: callers use it for work
   * that may be skipped (the prompt cache), never for the answer itself.
   */
  async json(method: "GET" | "POST", path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    let res: http.IncomingMessage;
    try {
      res = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body), timeoutMs, signal);
    } catch (err) {
      if (isAbort(err, signal)) throw abortError(LLM_REQUEST);
      throw new LlmUnavailableError(`LLM backend at ${this.url} did not answer ${method} ${path} (${describe(err)})`, err);
    }
    const text = await readAll(res, signal);
    if (res.statusCode !== 200) throw new LlmRequestError(`LLM backend at ${this.url} refused ${method} ${path} (${res.statusCode}: ${errorMessageOf(text)})`, res.statusCode ?? 0, errorTypeOf(text));
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new LlmRequestError(`LLM backend at ${this.url} answered ${method} ${path} with something that is not JSON: ${text.slice(0, 200)}`, res.statusCode ?? 0);
    }
  }

  private body(request: ChatRequest): Record<string, unknown> {
    const body: Record<string, unknown> = {
      ...request.extra,
      messages: request.messages,
      stream: true,
      // Reuse the KV cache of the previous turn: only the new tail of the prompt is evaluated.
      cache_prompt: true,
    };
    if (this.options.model) body.model = this.options.model;
    if (this.options.slotId !== undefined) body.id_slot = this.options.slotId;
    // A server without native tool calls refuses the fields outright (prima.cpp: HTTP 500).
    if (this.options.toolCalls === "native") {
      if (request.tools?.length) body.tools = request.tools;
      if (request.toolChoice) body.tool_choice = request.toolChoice;
    }
    if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.seed !== undefined) body.seed = request.seed;
    // The sampled token's own text beside each piece of content (llama-server's native
    // n_probs; the OpenAI `logprobs` is refused with tools + stream): its chat parser trims
    // a reply's leading space, which the prompt cache holds, so history can say what was cached.
    if (this.options.backend === "llamacpp") Object.assign(body, { n_probs: 1, post_sampling_probs: true });
    return body;
  }

  private async openWithRetries(body: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    let delay = this.options.retryDelayMs;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal, LLM_REQUEST);
      try {
        const res = await this.send("POST", "/v1/chat/completions", body, this.options.firstResponseTimeoutMs, signal);
        if (res.statusCode === 200) return res;
        const text = await readAll(res, signal);
        if (res.statusCode === 503 && attempt < this.options.retries) {
          await sleep(delay, signal);
          delay *= 2;
          continue;
        }
        const detail = errorMessageOf(text);
        if (res.statusCode === 503) {
          throw new LlmUnavailableError(`LLM backend at ${this.url} is not ready (503: ${detail}) — is the model still loading? Check the llm job's logs.`);
        }
        throw new LlmRequestError(`LLM backend at ${this.url} refused the request (${res.statusCode}: ${detail})`, res.statusCode ?? 0, errorTypeOf(text));
      } catch (err) {
        if (isAbort(err, signal)) throw abortError(LLM_REQUEST);
        if (err instanceof LlmRequestError || err instanceof LlmUnavailableError) throw err;
        if (!isConnectError(err)) throw new LlmUnavailableError(`LLM backend at ${this.url} did not answer (${describe(err)})`, err);
        if (attempt >= this.options.retries) {
          throw new LlmUnavailableError(
            `LLM backend at ${this.url} is unreachable (${describe(err)}) after ${attempt + 1} attempts — is the llm job running and LLM_BASE_URL (--llm-url) right?`,
            err,
          );
        }
        await sleep(delay, signal);
        delay *= 2;
      }
    }
  }

  private async *readStream(res: http.IncomingMessage, signal?: AbortSignal, onData: () => void = () => undefined): AsyncGenerator<LlmEvent> {
    const parser = new SseParser();
    const calls = new Map<number, ToolCallRequest>();
    let finishReason = "";
    let timings: LlmTimings | undefined;
    let done = false;
    // Closing the connection is how both servers stop generating: llama-server (and
    // prima.cpp's rank 0, which passes it round the ring) cancels the task of a client that
    // left. prima.cpp's `POST /v1/cancel` needs a task id the stream never tells (HTTP 400).
    const onAbort = () => res.destroy();
    signal?.addEventListener("abort", onAbort, { once: true });
    res.setEncoding("utf8");
    res.socket?.setTimeout(this.options.idleTimeoutMs);
    const onIdle = () => res.destroy(Object.assign(new Error(`no data for ${this.options.idleTimeoutMs} ms`), { code: "ETIMEDOUT" }));
    res.socket?.once("timeout", onIdle);
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        throwIfAborted(signal, LLM_REQUEST);
        onData();
        for (const data of parser.push(chunk)) {
          if (data.trim() === "[DONE]") {
            done = true;
            break;
          }
          const parsed = parseChunk(data, this.url);
          if (parsed.timings) timings = parsed.timings;
          for (const delta of parsed.toolDeltas) mergeToolDelta(calls, delta);
          if (parsed.finishReason) finishReason = parsed.finishReason;
          if (parsed.text) {
            throwIfAborted(signal, LLM_REQUEST);
            yield parsed.raw === undefined ? { type: "text", text: parsed.text } : { type: "text", text: parsed.text, raw: parsed.raw };
          }
        }
        if (done) break;
      }
      throwIfAborted(signal, LLM_REQUEST);
      if (!done && !finishReason) {
        throw new LlmUnavailableError(`LLM backend at ${this.url} closed the stream before the answer ended`);
      }
      if (calls.size) yield { type: "tool-calls", calls: [...calls.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c) };
      yield { type: "end", finishReason: finishReason || "stop", timings };
    } catch (err) {
      if (isAbort(err, signal)) throw abortError(LLM_REQUEST);
      if (err instanceof LlmUnavailableError) throw err;
      throw new LlmUnavailableError(`LLM backend at ${this.url} dropped the stream (${describe(err)})`, err);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      res.socket?.removeListener("timeout", onIdle);
      if (!done) res.destroy();
    }
  }

  private send(method: string, path: string, body: string | undefined, responseTimeoutMs: number, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const { base, agent, request } = this.target;
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    return new Promise((resolve, reject) => {
      const req = request({
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        path: base.pathname.replace(/\/$/, "") + path,
        method,
        headers,
        agent,
        signal,
      });
      const connectTimer = setTimeout(() => {
        req.destroy(Object.assign(new Error(`connect timed out after ${this.options.connectTimeoutMs} ms`), { code: "ETIMEDOUT" }));
      }, this.options.connectTimeoutMs);
      const responseTimer = setTimeout(() => {
        req.destroy(new Error(`no response within ${responseTimeoutMs} ms`));
      }, responseTimeoutMs);
      const clear = () => {
        clearTimeout(connectTimer);
        clearTimeout(responseTimer);
      };
      req.once("socket", (socket) => {
        if (!socket.connecting) clearTimeout(connectTimer);
        else socket.once("connect", () => clearTimeout(connectTimer));
      });
      req.once("response", (res) => {
        clear();
        resolve(res);
      });
      req.once("error", (err) => {
        clear();
        reject(err);
      });
      req.end(body);
    });
  }
}

/**
 * Watches one request for silence: after `livenessIntervalMs` without a byte it asks the
 * server whether it still answers (LlmClient.answers), and when it does not, aborts the
 * request and makes it fail with LlmUnavailableError — so a hung backend is reported
 * within livenessBoundMs instead of after the idle timeout.
 */
class SilenceWatch {
  private readonly controller = new AbortController();
  private lastHeard = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private hung: LlmUnavailableError | undefined;
  private stopped = false;
  private readonly onUserAbort = () => this.controller.abort();

  constructor(private readonly client: LlmClient, private readonly userSignal?: AbortSignal) {
    if (userSignal?.aborted) this.controller.abort();
    userSignal?.addEventListener("abort", this.onUserAbort, { once: true });
    this.schedule(client.options.livenessIntervalMs);
  }

  /** Aborts when the caller aborts or the server is found hung. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  heard(): void {
    this.lastHeard = performance.now();
  }

  async guard<T>(open: () => Promise<T>): Promise<T> {
    try {
      const value = await open();
      this.heard();
      return value;
    } catch (err) {
      throw this.hung ?? err;
    }
  }

  async *guardStream(events: AsyncGenerator<LlmEvent>): AsyncGenerator<LlmEvent> {
    try {
      yield* events;
    } catch (err) {
      throw this.hung ?? err;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.userSignal?.removeEventListener("abort", this.onUserAbort);
  }

  private schedule(ms: number): void {
    if (this.stopped || !Number.isFinite(ms)) return; // no liveness questions (llama.cpp)
    this.timer = setTimeout(() => void this.check(), Math.max(0, ms));
  }

  private async check(): Promise<void> {
    const { livenessIntervalMs, livenessTimeoutMs } = this.client.options;
    const silent = performance.now() - this.lastHeard;
    if (silent < livenessIntervalMs) return this.schedule(livenessIntervalMs - silent);
    const answers = await this.client.answers(livenessTimeoutMs);
    if (this.stopped) return;
    if (answers) return this.schedule(livenessIntervalMs);
    this.hung = new LlmUnavailableError(
      `LLM backend at ${this.client.url} stopped answering: nothing for ${Math.round((performance.now() - this.lastHeard) / 1000)} s and no answer to /slots within ${livenessTimeoutMs} ms ` +
        "(a prima.cpp ring stalls like this when a rank dies; the llm job restarts the ring)",
    );
    this.controller.abort();
  }
}

function resolveTarget(baseUrl: string): Resolved {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new Error(`LLM_BASE_URL (--llm-url) "${baseUrl}" is not a URL — set it like http://10.0.0.5:8080`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new Error(`LLM_BASE_URL (--llm-url) "${base.origin}" must start with http:// or https://`);
  }
  base.pathname = base.pathname.replace(/\/+$/, "").replace(/\/v1$/, "");
  const secure = base.protocol === "https:";
  // Keep-alive saves a TCP handshake per turn; an aborted stream destroys its socket, so no stale state is reused.
  const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  return { base, agent, request: secure ? https.request : http.request };
}

interface ToolDelta {
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}

interface ParsedChunk {
  text: string;
  /** The text of the tokens behind `text`, when the server sent them (llama-server's n_probs). */
  raw?: string;
  toolDeltas: ToolDelta[];
  finishReason?: string;
  timings?: LlmTimings;
}

/** `value` when it is an object whose fields may be read (each still unknown), else undefined. */
function fieldsOf(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
}

function stringOr<T>(value: unknown, otherwise: T): string | T {
  return typeof value === "string" ? value : otherwise;
}

/** One stream event's JSON, checked field by field: a server may send anything. */
function parseChunk(data: string, url: string): ParsedChunk {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new LlmUnavailableError(`LLM backend at ${url} sent a stream event that is not JSON: ${data.slice(0, 120)}`);
  }
  const json = fieldsOf(parsed);
  if (json?.error) {
    throw new LlmRequestError(`LLM backend at ${url} failed mid-answer: ${errorMessageOf(JSON.stringify(json))}`, 500);
  }
  const choice = fieldsOf(Array.isArray(json?.choices) ? json.choices[0] : undefined);
  const delta = fieldsOf(choice?.delta);
  const toolDeltas: ToolDelta[] = [];
  if (Array.isArray(delta?.tool_calls)) {
    for (const item of delta.tool_calls) {
      const call = fieldsOf(item);
      const fn = fieldsOf(call?.function);
      toolDeltas.push({
        index: typeof call?.index === "number" ? call.index : 0,
        id: stringOr(call?.id, undefined),
        name: stringOr(fn?.name, undefined),
        arguments: stringOr(fn?.arguments, undefined),
      });
    }
  }
  const content = fieldsOf(choice?.logprobs)?.content;
  const tokens = Array.isArray(content) ? content.map((t) => fieldsOf(t)?.token) : [];
  const raw = tokens.length && tokens.every((t) => typeof t === "string") ? tokens.join("") : undefined;
  return {
    text: stringOr(delta?.content, ""),
    raw,
    toolDeltas,
    finishReason: stringOr(choice?.finish_reason, undefined),
    timings: timingsOf(json?.timings),
  };
}

function timingsOf(value: unknown): LlmTimings | undefined {
  const raw = fieldsOf(value);
  if (!raw || typeof raw.prompt_n !== "number") return undefined;
  return {
    promptTokens: raw.prompt_n,
    promptMs: Number(raw.prompt_ms) || 0,
    predictedTokens: Number(raw.predicted_n) || 0,
    predictedMs: Number(raw.predicted_ms) || 0,
    cachedTokens: typeof raw.cache_n === "number" ? raw.cache_n : undefined,
  };
}

function mergeToolDelta(calls: Map<number, ToolCallRequest>, delta: ToolDelta): void {
  const call = calls.get(delta.index) ?? { id: "", name: "", arguments: "" };
  if (delta.id) call.id = delta.id;
  if (delta.name) call.name += delta.name;
  if (delta.arguments) call.arguments += delta.arguments;
  if (!call.id) call.id = `call_${delta.index}`;
  calls.set(delta.index, call);
}

function errorMessageOf(text: string): string {
  try {
    const json = fieldsOf(JSON.parse(text));
    const message = fieldsOf(json?.error)?.message ?? json?.message;
    if (typeof message === "string") return message;
  } catch {
    // not JSON: use the text itself
  }
  return text.slice(0, 200) || "no body";
}

function errorTypeOf(text: string): string | undefined {
  try {
    const type = fieldsOf(fieldsOf(JSON.parse(text))?.error)?.type;
    return typeof type === "string" ? type : undefined;
  } catch {
    return undefined;
  }
}

function isConnectError(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return typeof code === "string" && CONNECT_ERRORS.has(code);
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return [e?.code, e?.message].filter(Boolean).join(": ") || String(err);
}

async function readAll(res: http.IncomingMessage, signal?: AbortSignal): Promise<string> {
  let text = "";
  res.setEncoding("utf8");
  for await (const chunk of res as AsyncIterable<string>) {
    throwIfAborted(signal, LLM_REQUEST);
    text += chunk;
  }
  return text;
}

