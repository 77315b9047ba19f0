export { LlmClient, LlmUnavailableError, LlmRequestError, abortError, isAbort } from "./client";
export type { LlmBackend, LlmClientOptions } from "./client";
export type { ChatMessage, ChatRequest, ChatRole, LlmEvent, LlmTimings, ToolCallRequest, ToolSchema } from "./types";
