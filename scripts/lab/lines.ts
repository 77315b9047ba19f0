// The household's side of the benchmarks' conversations: what is said, in order.
import type { ScriptTurn } from "./conversation";

/** Twenty everyday lines (bench:turns speaks them; bench:cluster builds its script on them). */
export const LINES = [
  "hello, my name is Ana and I live by the sea",
  "what should I cook tonight",
  "I have fish, lemons and some potatoes",
  "how long should the potatoes boil",
  "my sister Marta is coming for dinner",
  "she does not eat garlic",
  "what wine goes with fish",
  "thanks, that sounds good",
  "remind me what my sister can't eat",
  "I also need to buy bread tomorrow",
  "what time does the bakery usually open",
  "my car is parked on level three",
  "tell me a short joke",
  "ok",
  "where did I park the car",
  "I work as a nurse at the city hospital",
  "what day is it today",
  "I prefer short answers",
  "what is my name",
  "good night",
];

/**
 * What the lab's stand-in recognizer hears in every line: it has moonshine-tiny's cost but
 * not its knowledge, so every transcript is this sentence — twelve words, a typical spoken
 * request, so the LLM evaluates as many new tokens per turn as a real one would.
 */
export const LAB_PHRASE = "I have fish lemons and potatoes so what should I cook tonight";

/**
 * bench:cluster's 24 turns: the first turn of a fresh session (the system prompt and tool
 * schemas are evaluated then), three lines spoken over the bot's answer, one that goes
 * through describe_scene, a second session part-way (a new page on a warm server), and a
 * typed fact in the first session asked about in the second (long-term memory).
 */
export const CONVERSATION: Omit<ScriptTurn, "pcmFile">[] = [
  ...LINES.slice(0, 4).map((line) => ({ line, kind: "spoken" as const })),
  { line: "my sister Marta is allergic to garlic", kind: "typed" },
  { line: LINES[4], kind: "barge-in" },
  ...LINES.slice(5, 7).map((line) => ({ line, kind: "spoken" as const })),
  { line: "what do you see right now", kind: "describe-scene" },
  ...LINES.slice(7, 9).map((line) => ({ line, kind: "spoken" as const })),
  { line: LINES[9], kind: "barge-in" },
  ...LINES.slice(10, 14).map((line) => ({ line, kind: "spoken" as const })),
  { line: LINES[14], kind: "barge-in" },
  ...LINES.slice(15, 17).map((line) => ({ line, kind: "spoken" as const })),
  { line: LINES[17], kind: "spoken", newSession: true },
  ...LINES.slice(18, 20).map((line) => ({ line, kind: "spoken" as const })),
  { line: "what is my sister Marta allergic to", kind: "typed" },
  { line: "can you see anyone in the room", kind: "spoken" },
];
