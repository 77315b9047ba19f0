export { TwinService, APOLOGY_BACKEND_DOWN, APOLOGY_REFUSED } from "./twin-service";
export type { TwinServiceOptions, TwinLlmOptions, TwinTurnInfo, MemoryStore } from "./twin-service";
export type { SceneSource } from "./scene";
export { ToolRegistry } from "./tools/registry";
export type { Tool, ToolResult } from "./tools/registry";
export { describeSceneTool } from "./tools/describe-scene";
export { DEFAULT_SYSTEM_PROMPT } from "./prompt";
