export { LlmClient, LlmUnavailableError, LlmRequestError, defaultToolCalls } from "./client";
export type { LlmBackend, LlmClientOptions, ToolCallMode } from "./client";
export type { ChatMessage, ChatRequest, ChatRole, LlmEvent, LlmTimings, ToolCallRequest, ToolSchema } from "./types";
