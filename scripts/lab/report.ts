// What bench:cluster reports for one placement: per turn and as p50/p95 the wait a user
// has from the moment they stop speaking (VAD end-of-turn, final transcript, LLM first
// token, first bot audio), the LLM's own figures from the tap, each node's CPU use; the
// seed's four figures in its own words; and the one summary line scripts read.
import type { TapRecord } from "./llm-tap";
import type { ConversationResult, TurnRecord } from "./conversation";

export interface NodeCpu {
  node: string;
  /** Cores of this machine the node may use. */
  budget: number;
  /** CPU seconds used during the conversation. */
  cpuSeconds: number;
  wallSeconds: number;
  /** What the node runs in this placement, e.g. "agent+STT+TTS+vision", "llama-server (28 layers)". */
  role: string;
}

/** One turn's figures, seconds after the user stopped speaking (undefined: did not happen). */
export interface TurnFigures {
  index: number;
  kind: TurnRecord["kind"];
  session: number;
  line: string;
  /** user stopped → VAD says the turn ended */
  vadEnd?: number;
  /** user stopped → final transcript */
  transcript?: number;
  /** user stopped → the agent asked the LLM (memory recall, prompt) */
  llmAsked?: number;
  /** user stopped → LLM first token */
  firstToken?: number;
  /** user stopped → first bot audio at the phone: the voice-to-voice wait */
  voiceToVoice?: number;
  /** The seed's four figures, as the agent itself reported them. */
  sttLatency?: number;
  llmTimeToFirstToken?: number;
  ttsTimeToFirstAudio?: number;
  totalPipelineLatency?: number;
  /** Prompt tokens llama-server evaluated for this turn after the user stopped (all its completions, and the part of any warm-up still running at the stop). */
  promptTokens?: number;
  /** Of promptTokens: those of warm-ups still running when the user stopped. */
  warmedAfterStop?: number;
  /** What issue 13 allows after the stop: the utterance's last 16 tokens (all of a shorter
   * one) + the template's closing tokens, in the model's tokens (counted by the tap). */
  promptBound?: number;
  /** Of promptTokens: those of completions after the turn's first (a tool's answer, evaluated once the tool ran). */
  toolRoundTokens?: number;
  /** How long before the stop the LLM was done with the previous answer (negative: after
   * the stop). What comes before the user's words (the end of the reply they cut short, its
   * template tokens) can only be evaluated from then on. */
  llmFreeBeforeStop?: number;
  /** Long-term memories recalled into this turn's prompt. */
  recalled?: number;
  /** Generation speed of the turn's completions (tokens/s). */
  genTokS?: number;
  toolCall: boolean;
  /** The user spoke again while this answer was still being generated (a barge-in, or
   * the bot had gone quiet mid-answer because speech outran generation). */
  answerCut?: boolean;
  /** A line spoken over the bot: how long until the bot's audio stopped. */
  bargeInStop?: number;
  error?: string;
}

export interface PlacementReport {
  name: string;
  describe: string;
  turns: TurnFigures[];
  cpu: NodeCpu[];
  /** The tap records in order, for the timeline. */
  llm: TapRecord[];
  conversation: ConversationResult;
  /** Share of the conversation in which the nodes together used (nearly) all of this
   * machine's cores: then a node may have got less than its budget (figures pessimistic). */
  saturated?: number;
}

/** Of the utterance, the tokens issue 13 allows to be evaluated after the user stops. */
export const PROMPT_BOUND_WORD_TOKENS = 16;

export function percentile(values: number[], p: number): number | undefined {
  if (!values.length) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Ties each turn to the chat completions the agent made for it (asked after the user
 * stopped, before the next line started). */
export function turnFigures(conversation: ConversationResult, llm: TapRecord[]): TurnFigures[] {
  return conversation.turns.map((t, i) => {
    const stop = t.speechEnd;
    const nextStart = conversation.turns[i + 1]?.speechStart ?? Number.POSITIVE_INFINITY;
    const mine = llm.filter((r) => !r.warm && r.asked >= stop && r.asked < Math.max(nextStart, stop + 1));
    // Warm-ups still evaluating when the user stopped: the share of their tokens that fell
    // after the stop (by time; they run one batch, so evaluation is near-linear in it).
    const warmAfter = llm.filter((r) => r.warm && r.asked < nextStart && r.ended > stop && r.promptTokens)
      .reduce((sum, r) => sum + Math.round(((r.ended - Math.max(r.asked, stop)) / Math.max(1, r.ended - r.asked)) * (r.promptTokens ?? 0)), 0);
    const at = t.report?.at ?? {};
    const since = (x: number | undefined) => (x === undefined || !t.speechEnd ? undefined : (x - stop) / 1000);
    const gen = mine.filter((r) => r.predictedTokens && r.predictedMs);
    const genTokens = gen.reduce((s, r) => s + (r.predictedTokens ?? 0), 0);
    const genMs = gen.reduce((s, r) => s + (r.predictedMs ?? 0), 0);
    const firstTokenAt = mine.find((r) => r.firstToken !== undefined)?.firstToken;
    const previous = llm.filter((r) => !r.warm && r.asked < stop).at(-1);
    return {
      index: t.index,
      kind: t.kind,
      session: t.session,
      line: t.line,
      vadEnd: since(at["user-stopped-speaking"]),
      transcript: since(at["transcript-final"]),
      llmAsked: since(mine[0]?.asked),
      firstToken: since(at["llm-first-token"] ?? firstTokenAt),
      // Audio that arrived before this turn's answer started (the previous answer resuming
      // after the user spoke into its pause) is not this turn's first word.
      voiceToVoice: since(t.firstAudio !== undefined && at["bot-started-speaking"] !== undefined && t.firstAudio < at["bot-started-speaking"] ? at["bot-started-speaking"] : t.firstAudio),
      sttLatency: t.report?.sttLatency,
      llmTimeToFirstToken: t.report?.llmTimeToFirstToken,
      ttsTimeToFirstAudio: t.report?.ttsTimeToFirstAudio,
      totalPipelineLatency: t.report?.totalPipelineLatency,
      // llama-server reports timings in its last chunk: a completion cut off before it (the
      // user spoke again) has none, and then the turn's count is unknown, not 0.
      promptTokens: mine.length && mine.every((r) => r.promptTokens !== undefined) ? mine.reduce((s, r) => s + (r.promptTokens ?? 0), warmAfter) : undefined,
      warmedAfterStop: warmAfter,
      toolRoundTokens: mine.length > 1 && mine.slice(1).every((r) => r.promptTokens !== undefined) ? mine.slice(1).reduce((s, r) => s + r.promptTokens!, 0) : undefined,
      llmFreeBeforeStop: previous ? (stop - previous.ended) / 1000 : undefined,
      promptBound: mine[0]?.userWordTokens !== undefined && mine[0]?.closingTokens !== undefined ? Math.min(PROMPT_BOUND_WORD_TOKENS, mine[0].userWordTokens) + mine[0].closingTokens : undefined,
      recalled: mine[0]?.recalled,
      answerCut: mine.some((r) => r.cancelled),
      genTokS: genMs > 0 ? genTokens / (genMs / 1000) : undefined,
      toolCall: mine.some((r) => r.forcedTool),
      bargeInStop: t.interruptedBotAudioEnd !== undefined && conversation.turns[i + 1] ? (t.interruptedBotAudioEnd - conversation.turns[i + 1].speechStart) / 1000 : undefined,
      error: t.error,
    };
  });
}

const s = (x: number | undefined, digits = 2) => (x === undefined ? "n/a" : x.toFixed(digits));

export const EMULATED = "Core 2-equivalent (emulated)";

/** The per-turn table and the p50/p95 block of one placement. */
export function formatPlacement(r: PlacementReport, calibration: string): string {
  const lines: string[] = [];
  lines.push(`placement ${r.name}: ${r.describe}`);
  lines.push(`  every figure: ${EMULATED}; ${calibration}`);
  lines.push("  turn kind            VAD-end  transcript  LLM-asked  1st-token  1st-audio(v2v)  prompt-tok (bound)  gen-tok/s  note");
  for (const t of r.turns) {
    const note = [t.index === 0 || (r.turns[t.index - 1] && r.turns[t.index - 1].session !== t.session) ? "first turn of a session" : "", t.toolCall ? "describe_scene" : "",
      t.answerCut && r.turns[t.index + 1]?.kind !== "barge-in" ? "still generating when the user spoke again" : "", t.bargeInStop !== undefined ? `talked over: bot quiet ${s(t.bargeInStop)} s after the user began` : "", t.error ?? ""].filter(Boolean).join("; ");
    lines.push(`  ${String(t.index + 1).padStart(4)} ${t.kind.padEnd(15)} ${s(t.vadEnd).padStart(7)} ${s(t.transcript).padStart(11)} ${s(t.llmAsked).padStart(10)} ${s(t.firstToken).padStart(10)} ${s(t.voiceToVoice).padStart(15)} ${String(t.promptTokens ?? "n/a").padStart(11)} ${(t.promptBound === undefined ? "" : `(${t.promptBound})`).padEnd(7)} ${s(t.genTokS, 1).padStart(10)}  ${note}`);
  }
  const rest = laterTurns(r.turns);
  const row = (label: string, values: (number | undefined)[]) => {
    const v = values.filter((x): x is number => x !== undefined);
    return `  ${label.padEnd(44)} p50 ${s(percentile(v, 50)).padStart(7)}  p95 ${s(percentile(v, 95)).padStart(7)}  (${v.length} turns)`;
  };
  lines.push(`  after the first turn of each session (seconds after the user stopped speaking):`);
  lines.push(row("VAD end-of-turn", rest.map((t) => t.vadEnd)));
  lines.push(row("final transcript", rest.map((t) => t.transcript)));
  lines.push(row("LLM first token", rest.map((t) => t.firstToken)));
  lines.push(row("first bot audio (voice-to-voice)", rest.map((t) => t.voiceToVoice)));
  lines.push(`  the seed's figures (as the agent measured them):`);
  lines.push(row("STT Latency", rest.map((t) => t.sttLatency)));
  lines.push(row("LLM Time to First Token", rest.map((t) => t.llmTimeToFirstToken)));
  lines.push(row("TTS Time to First Audio", rest.map((t) => t.ttsTimeToFirstAudio)));
  lines.push(row("Total Pipeline Latency", rest.map((t) => t.totalPipelineLatency)));
  const prompt = rest.map((t) => t.promptTokens).filter((x): x is number => x !== undefined);
  lines.push(`  prompt tokens evaluated after the user stopped: p50 ${percentile(prompt, 50) ?? "n/a"}, p95 ${percentile(prompt, 95) ?? "n/a"}`);
  // A recalled memory or a tool's answer is new text known only once the words are: apart.
  const split = (carried: boolean) => rest.filter((t) => ((t.recalled ?? 0) > 0 || t.toolCall) === carried).map((t) => t.promptTokens).filter((x): x is number => x !== undefined);
  const [plain, carried] = [split(false), split(true)];
  lines.push(`    turns where only the user's words were new: p50 ${percentile(plain, 50) ?? "n/a"}, p95 ${percentile(plain, 95) ?? "n/a"} (${plain.length} turns); ` +
    `with a recalled memory or a tool's answer in the prompt: p50 ${percentile(carried, 50) ?? "n/a"}, p95 ${percentile(carried, 95) ?? "n/a"} (${carried.length} turns)`);
  const bounded = rest.filter((t) => t.promptTokens !== undefined && t.promptBound !== undefined);
  if (bounded.length) {
    const over = bounded.map((t) => t.promptTokens! - t.promptBound!);
    const closing = [...new Set(r.llm.map((x) => x.closingTokens).filter((x) => x !== undefined))].join(" or ");
    lines.push(`    against the bound (the utterance's last ${PROMPT_BOUND_WORD_TOKENS} tokens + the template's ${closing} closing tokens, per turn): within it in ${over.filter((x) => x <= 0).length} of ${bounded.length} turns; ` +
      `evaluated minus bound p50 ${percentile(over, 50)}, p95 ${percentile(over, 95)} (≤ 0: within)`);
    const why = (t: TurnFigures) => [
      t.toolRoundTokens ? `${t.toolRoundTokens} of them the tool's answer` : "",
      t.llmFreeBeforeStop !== undefined ? `the LLM done with the previous answer ${s(Math.abs(t.llmFreeBeforeStop))} s ${t.llmFreeBeforeStop >= 0 ? "before" : "after"} the stop` : "",
      t.recalled ? `${t.recalled} memory recalled` : "",
    ].filter(Boolean).join(", ");
    const outside = bounded.filter((t) => t.promptTokens! > t.promptBound!);
    if (outside.length) lines.push(`    over it: ${outside.map((t) => `turn ${t.index + 1} +${t.promptTokens! - t.promptBound!} (${why(t)})`).join("; ")}`);
  }
  lines.push(row("generation tok/s", rest.map((t) => t.genTokS)));
  for (const t of firstTurns(r.turns)) {
    lines.push(`  first turn of session ${t.session}: voice-to-voice ${s(t.voiceToVoice)} s, LLM first token ${s(t.firstToken)} s, ${t.promptTokens ?? "n/a"} prompt tokens evaluated`);
  }
  const cut = r.turns.filter((t, i) => t.answerCut && r.turns[i + 1]?.kind !== "barge-in");
  if (cut.length) lines.push(`  answers still being generated when the user spoke again without talking over the bot (it had gone quiet mid-answer, speech outrunning generation): ${cut.length} of ${r.turns.length} (turns ${cut.map((t) => t.index + 1).join(", ")})${cut.some((t) => t.promptTokens === undefined) ? "; where the run had no per-token timings their prompt counts are unknown (llama-server reports them at the end)" : ""}`);
  const recalled = r.turns.filter((t) => (t.recalled ?? 0) > 0);
  lines.push(`  long-term memory: memories recalled into the prompt in ${recalled.length} of ${r.turns.length} turns${recalled.length ? ` (turns ${recalled.map((t) => `${t.index + 1}: ${t.recalled}`).join(", ")})` : ""}`);
  const barge = r.turns.map((t) => t.bargeInStop).filter((x): x is number => x !== undefined);
  if (barge.length) lines.push(`  barge-ins: the bot went quiet ${barge.map((b) => s(b)).join(", ")} s after the user began talking over it`);
  if (r.saturated !== undefined) {
    lines.push(`  this machine was saturated ${(r.saturated * 100).toFixed(0)} % of the conversation (nodes together ≥ 95 % of its cores): ${r.saturated > 0.05 ? "in those moments a node may have had less than its budget, so figures there are pessimistic" : "the budgets held"}`);
  }
  lines.push(`  CPU per node over the conversation (share of its budget):`);
  for (const c of r.cpu) {
    const used = c.cpuSeconds / Math.max(1e-9, c.wallSeconds);
    lines.push(`    ${c.node.padEnd(6)} ${c.role.padEnd(44)} ${(used / c.budget * 100).toFixed(0).padStart(3)} % of its budget on average (${used.toFixed(2)} of ${c.budget.toFixed(2)} cores here)`);
  }
  return lines.join("\n");
}

function isFirstOfSession(t: TurnFigures, all: TurnFigures[]): boolean {
  const before = all.filter((x) => x.index < t.index);
  return !before.some((x) => x.session === t.session);
}

export function firstTurns(turns: TurnFigures[]): TurnFigures[] {
  return turns.filter((t) => isFirstOfSession(t, turns));
}

/** The spoken turns after each session's first: what the p50/p95 figures are over (a typed
 * line has no voice to measure from). */
export function laterTurns(turns: TurnFigures[]): TurnFigures[] {
  return turns.filter((t) => !isFirstOfSession(t, turns) && t.kind !== "typed");
}

/** The line scripts read, exactly in the issue's form. */
export function summaryLine(r: PlacementReport): string {
  const rest = laterTurns(r.turns);
  const v2v = rest.map((t) => t.voiceToVoice).filter((x): x is number => x !== undefined);
  const prompt = rest.map((t) => t.promptTokens).filter((x): x is number => x !== undefined);
  const gen = rest.map((t) => t.genTokS).filter((x): x is number => x !== undefined);
  const first = r.turns[0]?.voiceToVoice;
  return `bench:cluster placement=${r.name} v2v_p50_s=${s(percentile(v2v, 50))} v2v_p95_s=${s(percentile(v2v, 95))} first_turn_s=${s(first)} prompt_after_stop_p95=${percentile(prompt, 95) ?? "n/a"} gen_tok_s=${s(percentile(gen, 50))}`;
}

/** Which stage takes the largest part of the median wait. */
export function dominantStage(r: PlacementReport): string {
  const rest = laterTurns(r.turns).filter((t) => t.voiceToVoice !== undefined);
  const parts: [string, (t: TurnFigures) => number | undefined][] = [
    ["waiting for the VAD to hear the end of the turn", (t) => t.vadEnd],
    ["transcribing", (t) => (t.transcript !== undefined && t.vadEnd !== undefined ? t.transcript - t.vadEnd : undefined)],
    ["memory recall and prompt", (t) => (t.llmAsked !== undefined && t.transcript !== undefined ? t.llmAsked - t.transcript : undefined)],
    ["LLM prompt evaluation to first token", (t) => (t.firstToken !== undefined && t.llmAsked !== undefined ? t.firstToken - t.llmAsked : undefined)],
    ["first clause and its speech", (t) => (t.voiceToVoice !== undefined && t.firstToken !== undefined ? t.voiceToVoice - t.firstToken : undefined)],
  ];
  const medians = parts.map(([name, f]) => [name, percentile(rest.map(f).filter((x): x is number => x !== undefined), 50) ?? 0] as const);
  const total = medians.reduce((a, [, v]) => a + v, 0);
  const [name, v] = [...medians].sort((a, b) => b[1] - a[1])[0];
  return `${name}: ${v.toFixed(2)} s of the median ${total.toFixed(2)} s (${Math.round((v / Math.max(total, 1e-9)) * 100)} %)` +
    ` — stages in order: ${medians.map(([n, x]) => `${n} ${x.toFixed(2)}`).join(", ")}`;
}
