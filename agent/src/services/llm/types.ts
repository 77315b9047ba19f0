/** The OpenAI chat-completions shapes the brain speaks, as llama-server accepts them. */

export type ChatRole = "system" | "user" | "assistant" | "tool";

export interface ToolCallRequest {
  id: string;
  name: string;
  /** The arguments exactly as the model wrote them (JSON text, maybe malformed). */
  arguments: string;
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** On an assistant message that asked for tools. */
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  /** On a tool message: which call it answers. */
  tool_call_id?: string;
}

export interface ToolSchema {
  type: "function";
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ToolSchema[];
  toolChoice?: "auto" | "required" | "none";
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  /** Extra llama-server fields (e.g. `grammar`, `json_schema`); never overrides the ones above. */
  extra?: Record<string, unknown>;
}

/** llama-server's `timings` of one completion. */
export interface LlmTimings {
  /** Prompt tokens actually evaluated (the rest came from the prompt cache). */
  promptTokens: number;
  promptMs: number;
  predictedTokens: number;
  predictedMs: number;
  /** Prompt tokens taken from the cache, when the server reports it. */
  cachedTokens?: number;
}

export type LlmEvent =
  /** `raw`: the generated tokens' own text, when the server tells it (llama-server), which
   * its chat parser may have trimmed to make `text` (a reply's leading space). */
  | { type: "text"; text: string; raw?: string }
  | { type: "tool-calls"; calls: ToolCallRequest[] }
  | { type: "end"; finishReason: string; timings?: LlmTimings };
