/**
 * TwinService: the agent's brain (seed §8). Sits between STT and TTS:
 *
 *   transcription (final) → recall memories → prompt (cache-friendly layout)
 *     → streaming chat completion → llm-text … (→ tool call → tool result → completion)
 *
 * It aborts the HTTP stream the moment an `interruption` arrives, writes the assistant
 * side of history only from what the user heard (`bot-spoken-text`), stores the user's
 * statements in long-term memory after the turn, and stamps `llm-first-token`.
 */
import { abortError, isAbort } from "../abort";
import { BotState, FrameProcessor, frame, type Direction, type Frame, type TranscriptionFrame } from "../pipeline";
import {
  LlmClient,
  LlmRequestError,
  LlmUnavailableError,
  type ChatMessage,
  type ChatRequest,
  type LlmBackend,
  type LlmClientOptions,
  type LlmEvent,
  type LlmTimings,
  type ToolCallMode,
  type ToolCallRequest,
} from "../services/llm";
import { DEFAULT_SYSTEM_PROMPT, buildMessages, limitWords, type TurnContext } from "./prompt";
import { PromptCache, type WarmResult } from "./prompt-cache";
import type { SceneSource } from "./scene";
import { ShortTermMemory, heardReply, type Turn } from "./short-term-memory";
import { currentTimeTool } from "./tools/current-time";
import { describeSceneTool } from "./tools/describe-scene";
import { PromptedReply, promptedCallGrammar, promptedToolMessages, promptedToolsInstructions } from "./tools/prompted-calls";
import { ToolRegistry, type ToolResult } from "./tools/registry";

/** What long-term memory offers the brain (see memory/long-term-memory.ts). */
export interface MemoryStore {
  /** Memories relevant to `text`, most relevant first. */
  recall(text: string): Promise<string[]>;
  /** Keeps `text` if it is worth keeping; resolves once saved (the brain does not wait). */
  remember(text: string): Promise<void>;
  /** Waits for pending saves. */
  flush(): Promise<void>;
}

export interface TwinLlmOptions extends LlmClientOptions {
  /**
   * Where the LLM is now, asked before every completion: on the cluster Nomad moves it
   * when a desktop dies, and the agent re-reads its endpoint on SIGHUP (main.ts), so an
   * open conversation follows the move. Default: `baseUrl` and `backend` as given.
   */
  endpoint?: () => { baseUrl: string; backend?: LlmBackend };
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  /** Per-completion additions (round 0 = the first completion of a turn, 1+ = after tool results). */
  request?: (round: number) => Partial<ChatRequest>;
}

export interface TwinServiceOptions {
  llm: TwinLlmOptions;
  memory?: {
    /** Turns of short-term memory (seed §8.1: 10). */
    shortTermTurns?: number;
    longTerm?: MemoryStore;
    /** Bound on recalling before a turn; past it the turn goes on without memories (default 1.5 s). */
    recallTimeoutMs?: number;
    /** How long an interim transcript's warm waits for its recall before it goes with the memories known so far (default 250 ms). */
    interimRecallWaitMs?: number;
  };
  /** Default: describe_scene over `scene`, and current_time. */
  tools?: ToolRegistry;
  scene?: SceneSource;
  /** Put the latest observation in every user message's context block, not only on describe_scene. */
  observationEveryTurn?: boolean;
  systemPrompt?: string;
  /** Longer transcripts keep their last words (default 400). */
  maxUserWords?: number;
  /** Tool round-trips per turn before the model must answer in words (default 2). */
  maxToolRounds?: number;
  benchmark?: boolean;
  log?: (line: string) => void;
  /** Called after every completed turn (benches and tests read prompt-cache figures here). */
  onTurn?: (info: TwinTurnInfo) => void;
  /**
   * Evaluate the prompt ahead of the user (twin/prompt-cache.ts): the fixed prefix when a
   * session opens, the history after each reply, the interim transcript while the user
   * speaks and the whole prompt at a pause, so that only the last words wait. Default off
   * here; the agent turns it on (AIDE_WARM_PROMPT_CACHE).
   */
  warmPromptCache?: boolean;
  /** The session's BotState: whether its pipeline plays audio (default: one of its own). */
  bot?: BotState;
}

export interface TwinTurnInfo {
  turnId: number;
  userText: string;
  /** Everything the model generated this turn. */
  generated: string;
  /** What history keeps of it so far (the heard part). */
  reply: string;
  /** The first completion's messages, as sent. */
  messages: ChatMessage[];
  /** Prompt tokens llama-server evaluated, per completion of the turn. */
  promptTokens: number[];
  timings: LlmTimings[];
  toolCalls: string[];
  /** What each tool call answered, as sent back to the model. */
  toolResults: { name: string; content: string; ok: boolean }[];
  /** The last completion's messages (with tool calls and results, if any). */
  finalMessages: ChatMessage[];
  /** transcript in → first token, ms. */
  firstTokenMs?: number;
  outcome: "answered" | "backend-down" | "refused";
}

function isContextOverflow(error: unknown): boolean {
  return error instanceof LlmRequestError && (error.kind === "exceed_context_size_error" || /context size|context length|too long/i.test(error.message));
}

export const APOLOGY_BACKEND_DOWN = "Sorry, I'm reconnecting to my language model. Please say that again in a moment.";
export const APOLOGY_REFUSED = "Sorry, I couldn't work that one out. Could you say it another way?";

interface ReplyState {
  turn: Turn;
  generated: string;
  /** Whitespace the model generated before `generated` that the server's chat parser
   * dropped from the content (a leading space): its prompt cache holds it. */
  lead: string;
  heard: string[];
  interrupted: boolean;
  /** The completion finished (llm-response-end went out). */
  ended: boolean;
}

export class TwinService extends FrameProcessor {
  private llmClient: LlmClient;
  readonly shortTerm: ShortTermMemory;
  readonly tools: ToolRegistry;
  private readonly systemPrompt: string;
  private reply: ReplyState | undefined;
  /** The reply the last interruption cut: the words of its cut clause that were heard belong to it. */
  private cutReply: ReplyState | undefined;
  /** Its playsAudio: a reply is then heard only as far as reported. */
  private readonly bot: BotState;
  private readonly log: (line: string) => void;
  private readonly promptCache: PromptCache | undefined;
  /** What was prepared at the user's last pause: reused when the final transcript is the same. */
  private prepared: { text: string; history: string; context: Promise<TurnContext> } | undefined;
  /** The context the utterance in progress has brought up so far (see gather). */
  private listening: { memories: string[]; observation?: Promise<void>; observed?: string } | undefined;
  /** Counts prepare calls: a guess whose recall ends after a newer guess began is not warmed. */
  private guesses = 0;
  /** A turn is being answered (from the final transcript to the end of its completions):
   * warming now would queue behind it on the server and overwrite its cache with a guess. */
  private answering = false;
  /** Generation speed of the last completion (tokens/s), for the TTS's first piece. */
  private tokensPerSecond: number | undefined;
  /** Stops the completion streaming now, so it can go on later (see pauseForBargeIn). */
  private pausable: AbortController | undefined;
  /** Speech that may be a barge-in is held (between barge-in-pending and its outcome). */
  private bargeInPending = false;
  /** Lets a paused completion go on (the held speech was withdrawn). */
  private goOn: (() => void) | undefined;

  constructor(private readonly options: TwinServiceOptions) {
    super("TwinService");
    this.llmClient = new LlmClient(options.llm);
    this.shortTerm = new ShortTermMemory(options.memory?.shortTermTurns ?? 10);
    this.tools = options.tools ?? new ToolRegistry([describeSceneTool(options.scene), currentTimeTool()]);
    this.systemPrompt = options.systemPrompt ?? DEFAULT_SYSTEM_PROMPT;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.bot = options.bot ?? new BotState();
    if (options.warmPromptCache) {
      this.promptCache = new PromptCache({
        client: () => this.client,
        tools: () => (this.tools.size && this.client.options.toolCalls === "native" ? this.tools.schemas() : undefined),
        log: this.log,
      });
    }
  }

  /** The LLM client for where the LLM is now (see TwinLlmOptions.endpoint). */
  get client(): LlmClient {
    const now = this.options.llm.endpoint?.();
    const current = this.llmClient.options;
    if (now && (now.baseUrl !== current.baseUrl || (now.backend ?? current.backend) !== current.backend)) {
      this.llmClient = new LlmClient({ ...this.options.llm, ...now });
    }
    return this.llmClient;
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type === "transcription" && direction === "downstream") {
      if (f.final) await this.respond(f);
      else this.prepare(f);
      return;
    }
    // A session opens: its first turn must not pay for the system prompt and tool schemas.
    if (f.type === "start") void this.warmPrefix();
    if (f.type === "barge-in-pending" && direction === "downstream") this.pauseForBargeIn();
    if (f.type === "barge-in-withdrawn" && direction === "downstream") this.goOnAfterBargeIn();
    // A new utterance: what the last one brought up is not this one's.
    if (f.type === "user-started-speaking" && direction === "downstream" && !this.answering) this.listening = undefined;
    if (f.type === "bot-spoken-text" && direction === "upstream") this.heard(f.text, f.partial);
    if (direction === "upstream") this.bot.observe(f);
    this.push(f, direction);
  }

  protected onInterruption(): void {
    this.bargeInPending = false; // the paused completion ends with the turn's signal
    const state = this.reply;
    if (!state || state.interrupted) return;
    this.cutReply = state;
    // Without audio out (a text-only pipeline) a finished reply was delivered whole.
    if (state.ended && !this.bot.playsAudio) return;
    state.interrupted = true;
    this.settleReply(state);
  }

  /**
   * The user began to speak over a busy bot. Most such speech is a barge-in, and a Core 2
   * generates the rest of a reply no one will hear while it waits to be sure: the
   * completion stops now (native tool calls: its text so far can be continued), and, when
   * the bot had gone quiet (speech outran generation, so the user took it as done), the
   * history's end as it stands if the reply is cut here (what was heard, the template's end
   * of the reply and the user's header) is evaluated while the user's first words are being
   * transcribed. If no interruption comes of it, the completion goes on from its text.
   */
  private pauseForBargeIn(): void {
    this.bargeInPending = true;
    const round = this.pausable;
    if (!round) return;
    round.abort();
    // While the bot speaks, the words it is saying now join the reply only once it is cut.
    if (this.reply?.heard.length && !this.bot.speaking) this.warmHistoryEnd();
  }

  private goOnAfterBargeIn(): void {
    this.bargeInPending = false;
    this.goOn?.();
  }

  /** Resolves once held speech is withdrawn; rejects with the abort when the user interrupts. */
  private untilWithdrawn(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(abortError("LLM request"));
      if (!this.bargeInPending) return resolve();
      const onAbort = () => {
        this.goOn = undefined;
        reject(abortError("LLM request"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.goOn = () => {
        this.goOn = undefined;
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
    });
  }

  async cleanup(): Promise<void> {
    this.promptCache?.close();
    await this.options.memory?.longTerm?.flush();
  }

  /**
   * Evaluates (or restores from llama-server's saved slot) the fixed start of every
   * prompt: system prompt and tool schemas. Done when a session opens; the agent also
   * calls it at start and when the LLM moves, so no user waits for it.
   */
  warmPrefix(): Promise<WarmResult | undefined> {
    return this.promptCache?.warmPrefix(this.system(this.client.options.toolCalls), this.client.options.slotId) ?? Promise.resolve(undefined);
  }

  /** Resolves when no prompt-cache warm is running or waiting (tests, benches). */
  warmed(): Promise<void> {
    return this.promptCache?.settled() ?? Promise.resolve();
  }

  /** The system message for this turn's tool mode. */
  private system(mode: ToolCallMode): string {
    return mode === "prompt" && this.tools.size ? `${this.systemPrompt}\n\n${promptedToolsInstructions(this.tools.schemas())}` : this.systemPrompt;
  }

  /**
   * The user is still speaking: evaluate what the next completion will start with, so
   * that when they stop only the words after this guess are left. Every guess also
   * recalls memories for the words so far (they go before the words, so they are
   * evaluated with them). An interim transcript warms up to its last word once its recall
   * is in (a few tens of ms: had the block grown after, the words would be evaluated
   * twice), or after `interimRecallWaitMs` with what the earlier words brought up, and
   * again when the late recall adds to it; the transcript at a pause warms the whole
   * prompt, its recall and the assistant's opening included, and is kept to be reused.
   */
  private prepare(f: TranscriptionFrame): void {
    const cache = this.promptCache;
    if (!cache || this.answering) return;
    const text = this.userWords(f.text).text;
    if (!text) return;
    const system = this.system(this.client.options.toolCalls);
    const history = this.shortTerm.nextMessages();
    const guess = ++this.guesses;
    // Not once the turn is being answered (its completion carries the prompt itself), nor
    // when a newer guess came while this one recalled.
    const warm = (c: TurnContext) => (this.answering || guess !== this.guesses ? undefined : cache.warm(buildMessages(system, history, text, c), f.atPause ? "generation" : "text"));
    const context = this.gather(text, this.signal);
    if (f.atPause) {
      this.prepared = { text, history: JSON.stringify(history), context };
      void context.then(warm);
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.options.memory?.interimRecallWaitMs ?? 250)));
    void Promise.race([context, waited]).then((c) => {
      clearTimeout(timer);
      if (c) return warm(c);
      const known = this.known();
      void warm(known);
      return context.then((late) => (JSON.stringify(late) === JSON.stringify(known) ? undefined : warm(late)));
    });
  }

  /** A transcript as the prompt takes it: its last `maxUserWords` words; "" when it has none (only noise). */
  private userWords(transcript: string): { text: string; dropped: number; max: number } {
    const max = this.options.maxUserWords ?? 400;
    const { text, dropped } = limitWords(transcript, max);
    return { text: /[\p{L}\p{N}]/u.test(text) ? text : "", dropped, max };
  }

  /** After a reply: the history as the next turn will send it, up to the user's words. */
  private warmNext(): void {
    if (!this.answering) this.warmHistoryEnd();
  }

  /** Evaluates the history as the next turn will send it, up to the user's words. */
  private warmHistoryEnd(): void {
    void this.promptCache?.warm(buildMessages(this.system(this.client.options.toolCalls), this.shortTerm.nextMessages(), ""), "text");
  }

  /**
   * The context block for the user's words so far: the memories recalled for them, added
   * to those the utterance's earlier words brought up (a block already evaluated only grows
   * at its end, so a guess that recalls nothing new keeps the cached tokens), none already
   * in the conversation; and, when asked for, what the camera saw as the utterance began.
   */
  private async gather(text: string, signal: AbortSignal): Promise<TurnContext> {
    const listening = this.listeningNow();
    // Just said again (these words): adds nothing. Judged once, as it is added: a block
    // must not change when later words happen to equal a memory already in it.
    for (const memory of await this.recall(text, signal)) if (memory !== text && !listening.memories.includes(memory)) listening.memories.push(memory);
    await listening.observation;
    return this.known();
  }

  /** The context block as the utterance's words have brought it up so far (no recall). */
  private known(): TurnContext {
    const listening = this.listening;
    // A memory in the history the next prompt carries (said, or recalled into an earlier
    // turn) is already in it; one that has left that window is not.
    const inPrompt = new Set<string>();
    for (const turn of this.shortTerm.snapshot().slice(-this.shortTerm.maxTurns)) [turn.user, ...(turn.context?.memories ?? [])].forEach((m) => inPrompt.add(m));
    const memories = (listening?.memories ?? []).filter((m) => !inPrompt.has(m));
    const observation = listening?.observed;
    return { ...(memories.length ? { memories } : {}), ...(observation ? { observation } : {}) };
  }

  private listeningNow(): NonNullable<TwinService["listening"]> {
    if (this.listening) return this.listening;
    const listening: NonNullable<TwinService["listening"]> = { memories: [] };
    if (this.options.observationEveryTurn && this.options.scene) listening.observation = this.observe().then((o) => { listening.observed = o; });
    return (this.listening = listening);
  }

  private heard(text: string, partial = false): void {
    // The heard part of a cut clause comes after the interruption, maybe after the next turn began.
    const state = partial ? this.cutReply : this.reply;
    if (!state) return;
    state.heard.push(text);
    this.settleReply(state);
  }

  /** The reply as history keeps it: the heard words; all of the generated text when nothing reports hearing and nothing cut it short. */
  private settleReply(state: ReplyState): void {
    // As the server cached it, so the next turn's prompt matches its cache up to what was heard.
    const cached = state.lead + state.generated;
    if (state.heard.length) state.turn.assistant = heardReply(cached, state.heard);
    else state.turn.assistant = state.interrupted || !state.generated.trim() ? "" : cached;
    // The whole answer was heard: history is final until the user speaks again.
    if (state.ended && !state.interrupted && state.turn.assistant && state.turn.assistant === cached) this.warmNext();
    // Cut short: the user is speaking now, and their first interim transcript warms the
    // history's new end with their words in one evaluation. (Warming it at the interruption
    // was measured slower: on a Core 2 every evaluation costs ~0.6 s before its first token,
    // and that one still held the slot when the first interim came.)
  }

  private async respond(transcription: TranscriptionFrame): Promise<void> {
    this.answering = true;
    let answered = false;
    try {
      answered = await this.answer(transcription);
    } finally {
      this.answering = false;
    }
    // Without audio out nothing reports hearing: the reply as kept is final now.
    if (answered && !this.bot.playsAudio) this.warmNext();
  }

  /** Answers one final transcript; true when the LLM answered it. */
  private async answer(transcription: TranscriptionFrame): Promise<boolean> {
    const started = performance.now();
    const { text: userText, dropped, max } = this.userWords(transcription.text);
    if (!userText) return false;
    if (dropped) this.log(`TwinService: transcript of ${dropped + max} words — kept its last ${max}`);

    const signal = this.signal;
    this.promptCache?.dropQueued();
    // Prepared at the pause that came before this stop: the same words over the same
    // history reuse its context, so the prompt is the one already evaluated.
    const prepared = this.prepared;
    this.prepared = undefined;
    const reuse = prepared && prepared.text === userText && prepared.history === JSON.stringify(this.shortTerm.nextMessages());
    const context = reuse ? await prepared.context : await this.gather(userText, signal);
    this.listening = undefined;
    if (signal.aborted) return false;
    // The turn keeps its context block as sent: the next prompt then matches the cache.
    const turn = this.shortTerm.addUser(userText, context);
    // Native tool calls (llama-server --jinja), or tools offered in the prompt for a server
    // that refuses `tools` (prima.cpp): decided per turn, as the LLM may have moved.
    const mode = this.client.options.toolCalls;
    const system = this.system(mode);
    // Everything before this turn, then this turn's context block and words.
    const compose = () => buildMessages(system, this.shortTerm.messages().slice(0, -1), userText, turn.context);
    let messages = compose();
    const state: ReplyState = { turn, generated: "", lead: "", heard: [], interrupted: false, ended: false };
    this.reply = state;
    const info: TwinTurnInfo = {
      turnId: transcription.turnId, userText, generated: "", reply: "", messages, promptTokens: [], timings: [], toolCalls: [], toolResults: [], finalMessages: messages, outcome: "answered",
    };

    this.push(frame("llm-response-start", { turnId: transcription.turnId, tokensPerSecond: this.tokensPerSecond }));
    try {
      const maxRounds = this.options.maxToolRounds ?? 2;
      for (let round = 0; ; round++) {
        const request = this.request(messages, round, round >= maxRounds, mode);
        info.finalMessages = messages;
        let result: { text: string; calls: ToolCallRequest[] };
        try {
          result = await this.streamRound(request, signal, state, info, transcription.turnId, started, mode);
        } catch (error) {
          // Too long for the server's context: forget the oldest turns (then the context
          // block) and ask again, rather than failing every turn from now on.
          if (round !== 0 || state.generated || !isContextOverflow(error) || !this.shrink(turn)) throw error;
          messages = compose();
          info.messages = messages;
          round = -1;
          continue;
        }
        if (!result.calls.length) break;
        messages = [...messages, ...(await this.runTools(result.text, result.calls, info, signal, mode))];
      }
      state.ended = true;
      this.settleReply(state);
    } catch (error) {
      if (isAbort(error, signal)) {
        // Cut off by the user: the answer goes, what the user said stays theirs.
        this.options.memory?.longTerm?.remember(userText).catch(() => undefined);
        throw error;
      }
      info.outcome = error instanceof LlmUnavailableError ? "backend-down" : "refused";
      this.log(`TwinService: ${error instanceof Error ? error.message : String(error)}`);
      if (!(error instanceof LlmUnavailableError) && !(error instanceof LlmRequestError)) throw error;
      // The user still gets an answer (the session stays); the failed exchange is not
      // kept, so the next prompt is what the server would have cached anyway.
      this.shortTerm.remove(turn);
      this.reply = undefined;
      this.push(frame("llm-text", { text: info.outcome === "backend-down" ? APOLOGY_BACKEND_DOWN : APOLOGY_REFUSED }));
    } finally {
      if (!signal.aborted) this.push(frame("llm-response-end", { turnId: transcription.turnId }));
    }
    // Stored after the turn, off its critical path; the store logs its own failures.
    if (info.outcome === "answered") this.options.memory?.longTerm?.remember(userText).catch(() => undefined);
    info.generated = state.generated;
    info.reply = turn.assistant;
    if (this.options.benchmark) this.log(`TwinService: turn ${info.turnId} prompt tokens evaluated: ${info.promptTokens.join(" + ") || "n/a"}`);
    this.options.onTurn?.(info);
    return info.outcome === "answered";
  }

  /** One completion, its words pushed downstream as they arrive; returns its text and any tool calls. */
  private async streamRound(
    request: ChatRequest, signal: AbortSignal, state: ReplyState, info: TwinTurnInfo, turnId: number, started: number, mode: ToolCallMode,
  ): Promise<{ text: string; calls: ToolCallRequest[] }> {
    let text = "";
    let calls: ToolCallRequest[] = [];
    // A prompted call is written as text: held back until it is known to be speech.
    const prompted = mode === "prompt" && request.extra?.grammar ? new PromptedReply() : undefined;
    // Paused while the user may be barging in (native tool calls only: a prompted call's
    // grammar cannot start again mid-text).
    for await (const raw of this.pausableStream(request, signal, !prompted && mode === "native")) {
      const event = raw.type === "text" && prompted ? { ...raw, text: prompted.push(raw.text) } : raw;
      if (event.type === "text") {
        if (!event.text) continue;
        if (info.firstTokenMs === undefined) {
          info.firstTokenMs = performance.now() - started;
          this.push(frame("metrics", { turnId, mark: "llm-first-token", at: performance.now() }));
        }
        if (!state.generated && event.raw?.endsWith(event.text)) {
          const lead = event.raw.slice(0, -event.text.length);
          if (/^\s+$/.test(lead)) state.lead = lead;
        }
        text += event.text;
        state.generated += event.text;
        this.push(frame("llm-text", { text: event.text }));
      } else if (event.type === "tool-calls") {
        calls = event.calls;
      } else if (event.timings) {
        info.timings.push(event.timings);
        if (event.timings.predictedTokens > 1 && event.timings.predictedMs > 0) this.tokensPerSecond = event.timings.predictedTokens / (event.timings.predictedMs / 1000);
        info.promptTokens.push(event.timings.promptTokens);
      }
    }
    const call = prompted?.end();
    if (call) calls = [call];
    return { text, calls };
  }

  /**
   * The completion's events. When `pausable`, held speech that may be a barge-in stops the
   * stream (pauseForBargeIn); if the speech is withdrawn, the same completion goes on as a
   * continuation of its text so far, which the server has cached.
   */
  private async *pausableStream(request: ChatRequest, signal: AbortSignal, pausable: boolean): AsyncGenerator<LlmEvent> {
    if (!pausable) return yield* this.client.stream(request, signal);
    let generated = ""; // as the server cached it (a leading space the chat parser drops included)
    let said = ""; // as it was passed on
    let tokens = 0;
    let current = request;
    let echo: PrefillEcho | undefined;
    for (;;) {
      const pause = new AbortController();
      this.pausable = pause;
      try {
        for await (const event of this.client.stream(current, AbortSignal.any([signal, pause.signal]))) {
          if (event.type !== "text") {
            yield event;
            continue;
          }
          const text = echo ? echo.take(event.text) : event.text;
          if (echo && !text) continue;
          generated += text === event.text ? event.raw ?? text : text;
          said += text;
          tokens++;
          yield text === event.text ? event : { type: "text", text };
        }
        return;
      } catch (error) {
        if (signal.aborted || !pause.signal.aborted) throw error;
      } finally {
        this.pausable = undefined;
      }
      await this.untilWithdrawn(signal);
      const maxTokens = Math.max(1, (request.maxTokens ?? 256) - tokens);
      current = generated ? { ...request, maxTokens, messages: [...request.messages, { role: "assistant", content: generated }] } : request;
      echo = generated ? new PrefillEcho(said) : undefined;
    }
  }

  /** Makes the next prompt shorter; false when nothing is left to drop. */
  private shrink(turn: Turn): boolean {
    const earlier = this.shortTerm.size - 1;
    if (earlier > 0) {
      const dropped = this.shortTerm.dropOldest(Math.ceil(earlier / 2), turn);
      this.log(`TwinService: prompt too long for the LLM's context — forgot the ${dropped} oldest turn(s) and asked again`);
      return true;
    }
    if (turn.context) {
      turn.context = undefined;
      this.log("TwinService: prompt too long for the LLM's context — asked again without recalled memories");
      return true;
    }
    return false;
  }

  private request(messages: ChatMessage[], round: number, lastRound: boolean, mode: ToolCallMode): ChatRequest {
    const { maxTokens, temperature, seed, request } = this.options.llm;
    const req: ChatRequest = { maxTokens: maxTokens ?? 256, temperature, seed, ...request?.(round), messages };
    if (this.tools.size && mode === "prompt") {
      // The tools are in the system prompt; the grammar allows a call only while calls are.
      req.extra = { ...req.extra, grammar: promptedCallGrammar(lastRound ? [] : this.tools.schemas()) };
      delete req.tools;
      delete req.toolChoice;
    } else if (this.tools.size) {
      // The tool list stays in every request, even when no more calls are allowed, so the
      // cached prefix (system prompt + tool schema) stays byte-identical.
      req.tools = this.tools.schemas();
      req.toolChoice = lastRound ? "none" : (req.toolChoice ?? "auto");
    }
    return req;
  }

  private async runTools(text: string, calls: ToolCallRequest[], info: TwinTurnInfo, signal: AbortSignal, mode: ToolCallMode): Promise<ChatMessage[]> {
    const assistant: ChatMessage = {
      role: "assistant",
      content: text,
      tool_calls: calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })),
    };
    const results: ToolResult[] = [];
    for (const call of calls) {
      info.toolCalls.push(call.name);
      const result = await this.tools.call(call, signal);
      info.toolResults.push({ name: result.name, content: result.content, ok: result.ok });
      if (!result.ok) this.log(`TwinService: tool ${call.name}: ${result.content}`);
      results.push(result);
    }
    if (mode === "prompt") return promptedToolMessages(calls, results);
    return [assistant, ...results.map((r): ChatMessage => ({ role: "tool", tool_call_id: r.callId, content: r.content }))];
  }

  /** Bounded in time, and over at once when the user interrupts (the turn is dropped then). */
  private async recall(text: string, signal: AbortSignal): Promise<string[]> {
    const store = this.options.memory?.longTerm;
    if (!store) return [];
    const bound = this.options.memory?.recallTimeoutMs ?? 1500;
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => undefined as void;
    try {
      return await Promise.race([
        store.recall(text),
        new Promise<string[]>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`recall took longer than ${bound} ms`)), bound);
        }),
        new Promise<string[]>((resolve) => {
          onAbort = () => resolve([]);
          signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]);
    } catch (error) {
      this.log(`TwinService: long-term memory skipped this turn: ${error instanceof Error ? error.message : String(error)}`);
      return [];
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  private async observe(): Promise<string | undefined> {
    if (!this.tools.has("describe_scene")) return undefined;
    const result = await this.tools.call({ id: "observation", name: "describe_scene", arguments: "{}" }, this.signal).catch(() => undefined);
    return result?.ok ? result.content : undefined;
  }
}

/**
 * llama-server (this version) streams an assistant prefill back as the start of the
 * continuation's content. What was already said must not be said twice: the text that
 * repeats it is dropped, and once the stream goes past it (or never repeated it) its
 * text passes as it comes.
 */
export class PrefillEcho {
  private seen = "";
  private done = false;

  constructor(private readonly said: string) {}

  /** The part of this piece of text that is new ("" when it only repeats what was said). */
  take(piece: string): string {
    if (this.done) return piece;
    const said = this.said.trimStart();
    const seen = (this.seen + piece).trimStart();
    if (seen.length < said.length && said.startsWith(seen)) {
      this.seen += piece;
      return "";
    }
    this.done = true;
    if (seen.startsWith(said)) return seen.slice(said.length);
    return this.seen + piece; // not a repeat after all: nothing held back is lost
  }
}
