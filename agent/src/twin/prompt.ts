/**
 * The prompt, laid out for llama-server's prompt cache. On a Core 2 every prompt token
 * costs tens of milliseconds, so the order is fixed:
 *
 *   [system prompt + tool schema]   byte-stable for the whole conversation
 *   [turn 1 user][turn 1 assistant] … history, appended turn by turn, never rewritten
 *   [newest user words + context]   recalled memories and the latest observation LAST
 *
 * Turn k then shares everything up to the end of turn k-1's user words with the cached
 * KV; the context block that ended turn k-1's user message is not kept in history, and
 * llama-server's `--cache-reuse N` shifts the cached chunks after it (the reply) instead
 * of evaluating them again when they match token for token. Measured on the tiny model
 * (agent/test/twin/prompt-cache.test.ts): turn k evaluates its new tokens + 2. Its
 * vocabulary does not round-trip generated tokens, so there the previous reply counts
 * as new; with a real BPE vocabulary it is normally reused.
 */
import type { ChatMessage } from "../services/llm";

export const DEFAULT_SYSTEM_PROMPT = [
  "You are Aide, a voice assistant running on the user's own computers.",
  "Your words are spoken aloud: answer in one to three short sentences of plain speech,",
  "with no lists, markdown, emoji or links. If you are unsure, say so briefly.",
  "Lines under \"Context\" are things you remember about the user or what the camera sees; use them only when they help.",
].join(" ");

export interface TurnContext {
  /** Recalled long-term memories, most relevant first. */
  memories?: string[];
  /** The latest observation from the camera, e.g. "Observation: I see a person and a cup." */
  observation?: string;
}

/** The newest user message: what was said, then the context block at its very end. */
export function userMessageWithContext(userText: string, context: TurnContext = {}): string {
  const lines: string[] = [];
  for (const memory of context.memories ?? []) lines.push(`- You remember: ${memory}`);
  if (context.observation) lines.push(`- ${context.observation}`);
  return lines.length ? `${userText}\n\nContext:\n${lines.join("\n")}` : userText;
}

export function buildMessages(systemPrompt: string, history: readonly ChatMessage[], userText: string, context?: TurnContext): ChatMessage[] {
  return [
    { role: "system", content: systemPrompt },
    ...history,
    { role: "user", content: userMessageWithContext(userText, context) },
  ];
}

/**
 * Keeps the last `maxWords` words of a transcript. A runaway transcript (VAD never
 * heard silence, 5,000 words) would otherwise take minutes of prompt evaluation on a
 * Core 2 or overflow the context; its end is what the user said last.
 */
export function limitWords(text: string, maxWords: number): { text: string; dropped: number } {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length <= maxWords) return { text: words.join(" "), dropped: 0 };
  return { text: `… ${words.slice(words.length - maxWords).join(" ")}`, dropped: words.length - maxWords };
}
