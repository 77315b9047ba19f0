/**
 * The prompt, laid out for llama-server's prompt cache. On a Core 2 every prompt token
 * costs a tenth of a second, so the order is fixed and nothing sent is ever rewritten:
 *
 *   [system prompt + tool schema]   byte-stable for the whole conversation
 *   [turn 1 user][turn 1 assistant] … history, appended turn by turn: each user message as
 *                                   it was sent, its context block included
 *   [context block][newest user words]
 *                                   recalled memories (and the latest observation) FIRST,
 *                                   gathered from the interim transcripts while the user
 *                                   speaks, so they are evaluated before the user stops
 *
 * Turn k then shares everything up to the end of turn k-1's reply with the cached KV
 * (the reply as the model wrote it, or its heard part: short-term-memory.ts). A memory
 * already in the history is not recalled into it again. Measured on the tiny model
 * (agent/test/twin/prompt-cache.test.ts): turn k evaluates its new tokens + 2.
 */
import type { ChatMessage } from "../services/llm";

export const DEFAULT_SYSTEM_PROMPT = [
  "You are Aide, a voice assistant running on the user's own computers.",
  "Your words are spoken aloud: answer in one to three short sentences of plain speech,",
  "with no lists, markdown, emoji or links. If you are unsure, say so briefly.",
  "A user message may begin with lines under \"Context\": things you remember about the user or what the camera sees, then a blank line and the user's words; use them only when they help.",
].join(" ");

export interface TurnContext {
  /** Recalled long-term memories, most relevant first. */
  memories?: string[];
  /** The latest observation from the camera, e.g. "Observation: I see a person and a cup." */
  observation?: string;
}

/** A user message: its context block (when there is one) first, then what was said. */
export function userMessageWithContext(userText: string, context: TurnContext = {}): string {
  const lines: string[] = [];
  for (const memory of context.memories ?? []) lines.push(`- You remember: ${memory}`);
  if (context.observation) lines.push(`- ${context.observation}`);
  return lines.length ? `Context:\n${lines.join("\n")}\n\n${userText}` : userText;
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
