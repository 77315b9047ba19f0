/**
 * Tool calls for a server without native ones (prima.cpp's rank 0 refuses `tools` with
 * HTTP 500; shared/prima/FLAGS.md). The tools are described at the end of the system
 * prompt (so the cached prefix stays byte-stable), and a llama.cpp `grammar` — which
 * prima.cpp's OpenAI endpoint passes through — lets the model either speak or write
 * exactly one call:
 *
 *   {"tool":"describe_scene","arguments":{}}
 *
 * Speech streams out as it comes; a reply that opens with `{` is a call, collected and
 * parsed here. The call and its result go back as plain assistant and user messages:
 * a chat template without tool support may refuse the `tool` role.
 */
import type { ChatMessage, ToolCallRequest, ToolSchema } from "../../services/llm";
import type { ToolResult } from "./registry";

export function promptedToolsInstructions(tools: ToolSchema[]): string {
  const lines = tools.map((t) => `- ${t.function.name}: ${t.function.description} Arguments: ${JSON.stringify(t.function.parameters)}`);
  return [
    "You can use these tools:",
    ...lines,
    'To use one, reply with only a JSON object like {"tool":"<name>","arguments":{}} and nothing else; you will get its result.',
    "Otherwise answer in plain speech.",
  ].join("\n");
}

// GBNF. `speech` is anything that does not open with `{`, so it can stream from its
// first token; `call` names only the offered tools.
const SPEECH_RULES = [
  'speech ::= [^{ \\t\\n] .*',
];
const JSON_RULES = [
  'object ::= "{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}"',
  'value ::= object | array | string | number | "true" | "false" | "null"',
  'array ::= "[" ws ( value ( ws "," ws value )* )? ws "]"',
  'string ::= "\\"" ( [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ["\\\\/bfnrt] )* "\\""',
  'number ::= "-"? [0-9]+ ( "." [0-9]+ )?',
  "ws ::= [ ]?",
];

/** The grammar of a reply that may call one of `tools` (or, with none, may only speak). */
export function promptedCallGrammar(tools: ToolSchema[]): string {
  if (!tools.length) return ["root ::= [ \\t\\n]* speech", ...SPEECH_RULES].join("\n");
  // A tool without parameters takes exactly `{}`: nothing for the model to get wrong.
  const call = tools.map((t, i) => `call${i} ::= "\\"${t.function.name}\\"" ws "," ws "\\"arguments\\":" ws ${hasParameters(t) ? "object" : '"{}"'}`);
  return [
    "root ::= [ \\t\\n]* ( call | speech )",
    `call ::= "{" ws "\\"tool\\":" ws ( ${tools.map((_, i) => `call${i}`).join(" | ")} ) ws "}"`,
    ...call,
    ...SPEECH_RULES,
    ...JSON_RULES,
  ].join("\n");
}

function hasParameters(tool: ToolSchema): boolean {
  const props = (tool.function.parameters as { properties?: Record<string, unknown> }).properties;
  return Boolean(props && Object.keys(props).length);
}

/**
 * Reads a prompted reply as it streams: `push` returns the text to speak now (none while
 * the reply might still be a call); `end` returns the call, if the reply was one.
 */
export class PromptedReply {
  private pending = "";
  private kind: "undecided" | "speech" | "call" = "undecided";

  push(text: string): string {
    if (this.kind === "speech") return text;
    this.pending += text;
    if (this.kind === "call") return "";
    const start = this.pending.trimStart();
    if (!start) return "";
    this.kind = start.startsWith("{") ? "call" : "speech";
    if (this.kind === "call") return "";
    const out = this.pending;
    this.pending = "";
    return out;
  }

  /** The call the reply made; malformed ones are passed on for the registry to answer. */
  end(): ToolCallRequest | undefined {
    if (this.kind !== "call") return undefined;
    const raw = this.pending.trim();
    try {
      const json = JSON.parse(raw) as { tool?: unknown; arguments?: unknown };
      return { id: "call_0", name: typeof json.tool === "string" ? json.tool : "", arguments: JSON.stringify(json.arguments ?? {}) };
    } catch {
      // Cut off (max tokens) or not JSON: the registry turns it into an error the model can speak from.
      const name = /"tool"\s*:\s*"([^"]*)"/.exec(raw)?.[1] ?? "";
      return { id: "call_0", name, arguments: raw };
    }
  }
}

/** The call as the model wrote it, then each result as a user message. */
export function promptedToolMessages(calls: ToolCallRequest[], results: ToolResult[]): ChatMessage[] {
  return [
    ...calls.map((c): ChatMessage => ({ role: "assistant", content: JSON.stringify({ tool: c.name, arguments: safeJson(c.arguments) }) })),
    ...results.map((r): ChatMessage => ({ role: "user", content: `Result of ${r.name}: ${r.content}` })),
  ];
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
