/**
 * Short-term memory: the last N turns (seed §8.1: 10) before the one being answered, each holding only what was
 * actually said. The assistant side of a turn is written from the words the output
 * transport reports as heard (`bot-spoken-text`), so a reply the user talked over keeps
 * only its heard beginning.
 */
import type { ChatMessage } from "../services/llm";
import { userMessageWithContext, type TurnContext } from "./prompt";

export interface Turn {
  user: string;
  /** The context block sent before the user's words (recalled memories, an observation):
   * kept as sent, so the next prompt matches what the server cached. */
  context?: TurnContext;
  /** What the user heard of the reply ("" when nothing was heard). */
  assistant: string;
}

export class ShortTermMemory {
  private turns: Turn[] = [];

  constructor(readonly maxTurns = 10) {
    if (!Number.isInteger(maxTurns) || maxTurns < 1) throw new Error(`short-term memory: maxTurns must be a positive integer, got ${maxTurns}`);
  }

  /**
   * Starts a turn with the user's words; the caller fills in `assistant` as the reply is
   * heard. The `maxTurns` turns before it are kept, so its prompt carries all of them.
   */
  addUser(text: string, context?: TurnContext): Turn {
    const turn: Turn = { user: text, assistant: "", ...(context && (context.memories?.length || context.observation) ? { context } : {}) };
    this.turns.push(turn);
    if (this.turns.length > this.maxTurns + 1) this.turns.splice(0, this.turns.length - this.maxTurns - 1);
    return turn;
  }

  /** Forgets a turn (an exchange that failed and should not shape the next prompt). */
  remove(turn: Turn): void {
    this.turns = this.turns.filter((t) => t !== turn);
  }

  /** Forgets the `count` oldest turns, never `keep` (the turn being answered). */
  dropOldest(count: number, keep?: Turn): number {
    const older = this.turns.filter((t) => t !== keep).slice(0, count);
    this.turns = this.turns.filter((t) => !older.includes(t));
    return older.length;
  }

  get size(): number {
    return this.turns.length;
  }

  snapshot(): readonly Turn[] {
    return this.turns.map((t) => ({ ...t, ...(t.context ? { context: { ...t.context, memories: t.context.memories?.slice() } } : {}) }));
  }

  /** The turns as chat messages; a reply nobody heard is left out rather than sent empty. */
  messages(): ChatMessage[] {
    return asMessages(this.turns);
  }

  /** The history the next turn's prompt will carry: addUser keeps the `maxTurns` turns
   * before it, so once the window is full the oldest turn here is not in it. */
  nextMessages(): ChatMessage[] {
    return asMessages(this.turns.slice(-this.maxTurns));
  }

  clear(): void {
    this.turns = [];
  }
}

function asMessages(turns: readonly Turn[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const turn of turns) {
    out.push({ role: "user", content: userMessageWithContext(turn.user, turn.context) });
    if (turn.assistant) out.push({ role: "assistant", content: turn.assistant });
  }
  return out;
}

/**
 * What to keep as the reply: the generated text when everything generated was heard
 * (byte-identical to what the server cached, so the next turn reuses it); for a reply
 * cut short, the generated text up to the end of the last heard word when the heard
 * words are its words in order (the server cached those tokens as it generated them,
 * so only the history after the cut is evaluated again); else the heard words as the
 * output transport reported them.
 */
export function heardReply(generated: string, heardChunks: readonly string[]): string {
  const heard = joinChunks(heardChunks);
  // Not trimmed: the model's first token often carries a leading space, and the cached
  // tokens only match the history when the text is byte-identical.
  if (normalize(heard) === normalize(generated)) return generated;
  return generatedThrough(generated, heard) ?? heard;
}

/** `generated` up to the end of `heard`'s last word, when `heard` is its first words as
 * written (only the whitespace between them may differ); undefined otherwise. */
function generatedThrough(generated: string, heard: string): string | undefined {
  let end = 0;
  for (const word of heard.split(/\s+/).filter(Boolean)) {
    const start = generated.slice(end).search(/\S/);
    if (start < 0 || !generated.startsWith(word, end + start)) return undefined;
    end += start + word.length;
  }
  return end ? generated.slice(0, end) : undefined;
}

function joinChunks(chunks: readonly string[]): string {
  let text = "";
  for (const chunk of chunks) {
    if (!chunk) continue;
    const needsSpace = text && !/\s$/.test(text) && !/^[\s,.;:!?]/.test(chunk);
    text += (needsSpace ? " " : "") + chunk;
  }
  return text.trim();
}

function normalize(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
