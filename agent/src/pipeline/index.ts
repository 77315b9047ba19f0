export * from "./frames";
export { FrameProcessor } from "./processor";
export { Pipeline } from "./pipeline";
export type { PipelineEdges } from "./pipeline";
export { TurnCounter } from "./turns";
export { BotState } from "./bot-state";
