export * from "./frames";
export { FrameProcessor, isAbortError } from "./processor";
export { Pipeline } from "./pipeline";
export type { PipelineEdges } from "./pipeline";
export { TurnCounter } from "./turns";
export { BotState } from "./bot-state";
