/**
 * The LLM's prompt cache, kept warm ahead of the user. On a Core 2 every prompt token
 * costs a tenth of a second or more, so the work is moved to where nobody waits for it:
 *
 *   agent start, a session opening     the fixed prefix (system prompt + tool schemas),
 *                                      restored from a file llama-server saved
 *                                      (`--slot-save-path`) when its slot is empty
 *   after each reply                   the history as the next turn will send it
 *   while the user speaks              the interim transcript, up to its last word
 *   at a short pause                   the whole prompt the completion will have
 *
 * so that when the user stops, only the words after the last guess are evaluated. A
 * guess that turns out wrong costs only the tokens after the divergence (llama-server's
 * `cache_prompt` keeps the common prefix); nothing is generated from a guess
 * (`n_predict: 0`). The prompt text comes from llama-server's own `/apply-template`, the
 * same code that renders a chat completion, so the cached tokens are the ones the
 * completion will send.
 *
 * Only llama-server has these endpoints; on prima.cpp the cache stays cold (said once).
 */
import { createHash } from "node:crypto";
import { isAbort } from "../abort";
import { LlmRequestError, LlmUnavailableError, type ChatMessage, type LlmClient, type ToolSchema } from "../services/llm";

/** Put after the text to keep, to find where the template put it (a transcript cannot hold it). */
const CUT = "\u2063\u2063aide-cut\u2063\u2063";

export type WarmThrough = "text" | "generation";

export interface WarmResult {
  /** Prompt tokens evaluated now. */
  evaluated: number;
  /** Prompt tokens found in the cache. */
  cached: number;
  ms: number;
}

export interface PromptCacheOptions {
  client: () => LlmClient;
  /** The tool schemas every completion carries (native tool calls), if any. */
  tools: () => ToolSchema[] | undefined;
  log: (line: string) => void;
  /** Bound on one warm (default 5 min: a cold prefix on a Core 2 takes tens of seconds). */
  timeoutMs?: number;
}

interface Job {
  messages: ChatMessage[];
  through: WarmThrough;
  resolve: (result: WarmResult | undefined) => void;
}

export class PromptCache {
  private running: Promise<void> | undefined;
  private queued: Job | undefined;
  private controller = new AbortController();
  /** Why this server's cache cannot be warmed (said once), per server URL. */
  private readonly unsupported = new Map<string, string>();
  /** warmPrefix calls under way (settled() waits for them too). */
  private readonly prefixes = new Set<Promise<unknown>>();

  constructor(private readonly options: PromptCacheOptions) {}

  /**
   * Evaluates `messages` as the next completion will send them: up to the end of the last
   * message's text (`text`), or with the assistant's opening too (`generation`). Latest
   * wins: a warm still waiting is replaced (resolves undefined); the one in flight
   * finishes, as llama-server evaluates a short prompt in one batch anyway.
   */
  warm(messages: ChatMessage[], through: WarmThrough): Promise<WarmResult | undefined> {
    if (!this.warmable(this.options.client())) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.queued?.resolve(undefined);
      this.queued = { messages, through, resolve };
      if (!this.running) this.running = this.drain();
    });
  }

  /** Drops the warm still waiting (the completion goes now). The one in flight goes on:
   * llama-server finishes its batch whatever the client does, and the completion queued
   * behind it finds those tokens cached. */
  dropQueued(): void {
    this.queued?.resolve(undefined);
    this.queued = undefined;
  }

  /** The session ended: nothing more is warmed for it. */
  close(): void {
    this.dropQueued();
    this.controller.abort();
  }

  /** Resolves when no warm is running or waiting. */
  async settled(): Promise<void> {
    while (this.running || this.prefixes.size) await Promise.all([this.running, ...this.prefixes]);
  }

  /**
   * The fixed prefix (system prompt and tool schemas, up to the first user message's
   * text), when the slot holds nothing: restored from the file llama-server saved for this
   * exact prefix, or evaluated and then saved, so a restarted server or agent never makes
   * a user's first turn pay for it. Without `--slot-save-path` it is just evaluated.
   */
  warmPrefix(system: string, slotId = 0): Promise<WarmResult | undefined> {
    const work = this.prefix(system, slotId);
    this.prefixes.add(work);
    void work.finally(() => this.prefixes.delete(work));
    return work;
  }

  private async prefix(system: string, slotId: number): Promise<WarmResult | undefined> {
    const client = this.options.client();
    if (!this.warmable(client)) return undefined;
    const messages: ChatMessage[] = [{ role: "system", content: system }, { role: "user", content: "" }];
    try {
      const prompt = await this.render(client, messages, "text");
      const file = `aide-prefix-${createHash("sha256").update(prompt).digest("hex").slice(0, 16)}.bin`;
      if (await this.slotEmpty(client, slotId)) {
        const restored = await this.slotAction(client, slotId, "restore", file);
        if (restored) {
          this.options.log(`prompt cache: restored the ${restored} prefix tokens llama-server saved (${file}) instead of evaluating them`);
          return { evaluated: 0, cached: restored, ms: 0 };
        }
      }
      const result = await this.warm(messages, "text");
      if (result && result.evaluated > 0) {
        const saved = await this.slotAction(client, slotId, "save", file);
        this.options.log(`prompt cache: evaluated the ${result.evaluated}-token prefix in ${(result.ms / 1000).toFixed(1)} s${saved ? `, saved as ${file} for a restarted server` : " (llama-server has no --slot-save-path: a restarted server evaluates it again)"}`);
      }
      return result;
    } catch (error) {
      this.failed(client, error);
      return undefined;
    }
  }

  /** llama-server has the endpoints (prima.cpp has none), unless this one said otherwise. */
  private warmable(client: LlmClient): boolean {
    return client.options.backend === "llamacpp" && !this.unsupported.has(client.url);
  }

  private async drain(): Promise<void> {
    try {
      for (let job = this.take(); job; job = this.take()) {
        const client = this.options.client();
        const signal = this.controller.signal;
        try {
          job.resolve(await this.evaluate(client, await this.render(client, job.messages, job.through, signal), signal));
        } catch (error) {
          if (!isAbort(error, signal)) this.failed(client, error);
          job.resolve(undefined);
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  private take(): Job | undefined {
    const job = this.queued;
    this.queued = undefined;
    return job;
  }

  /** The prompt text the completion will have, cut after the last message's text for `text`. */
  private async render(client: LlmClient, messages: ChatMessage[], through: WarmThrough, signal?: AbortSignal): Promise<string> {
    const last = messages[messages.length - 1];
    const marked = through === "text" ? [...messages.slice(0, -1), { ...last, content: last.content + CUT }] : messages;
    const tools = this.options.tools();
    const body = { messages: marked, ...(tools?.length ? { tools, tool_choice: "auto" } : {}) };
    const answer = (await client.json("POST", "/apply-template", body, this.timeoutMs, signal)) as { prompt?: unknown };
    if (typeof answer?.prompt !== "string") throw new UnsupportedError(`/apply-template answered without a prompt`);
    if (through === "generation") return answer.prompt;
    const cut = answer.prompt.indexOf(CUT);
    if (cut < 0) throw new UnsupportedError("the chat template changes the text it is given, so a cached guess would never match");
    return answer.prompt.slice(0, cut);
  }

  private async evaluate(client: LlmClient, prompt: string, signal?: AbortSignal): Promise<WarmResult> {
    const started = performance.now();
    const body: Record<string, unknown> = { prompt, n_predict: 0, cache_prompt: true };
    if (client.options.slotId !== undefined) body.id_slot = client.options.slotId;
    const answer = (await client.json("POST", "/completion", body, this.timeoutMs, signal)) as { timings?: { prompt_n?: number; cache_n?: number } };
    return { evaluated: answer?.timings?.prompt_n ?? 0, cached: answer?.timings?.cache_n ?? 0, ms: performance.now() - started };
  }

  /** True when the slot has never held a prompt (a server just started). */
  private async slotEmpty(client: LlmClient, slotId: number): Promise<boolean> {
    try {
      const slots = (await client.json("GET", "/slots", undefined, this.timeoutMs)) as { id?: number; n_prompt_tokens?: number }[];
      const slot = Array.isArray(slots) ? slots.find((s) => s.id === slotId) : undefined;
      return Boolean(slot) && !slot!.n_prompt_tokens;
    } catch {
      return false; // `/slots` off (--no-slots): evaluate as usual
    }
  }

  /** Saves or restores the slot's cache; the tokens moved, or 0 when the server cannot. */
  private async slotAction(client: LlmClient, slotId: number, action: "save" | "restore", filename: string): Promise<number> {
    try {
      const answer = (await client.json("POST", `/slots/${slotId}?action=${action}`, { filename }, this.timeoutMs)) as { n_saved?: number; n_restored?: number };
      return (action === "save" ? answer?.n_saved : answer?.n_restored) ?? 0;
    } catch (error) {
      if (error instanceof LlmRequestError) return 0; // no --slot-save-path, or no file for this prefix yet
      throw error;
    }
  }

  private failed(client: LlmClient, error: unknown): void {
    if (error instanceof LlmUnavailableError) return; // the turn itself will say so
    const reason = error instanceof Error ? error.message : String(error);
    if (error instanceof UnsupportedError || (error instanceof LlmRequestError && (error.status === 404 || error.status === 501))) {
      if (this.unsupported.has(client.url)) return;
      this.unsupported.set(client.url, reason);
      this.options.log(`prompt cache: not warming ${client.url} ahead of the user (${reason}); every turn evaluates its whole new text after the user stops`);
      return;
    }
    this.options.log(`prompt cache: a warm-up failed (${reason}); the turn goes on without it`);
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? 5 * 60_000;
  }
}

class UnsupportedError extends Error {}
