export { VadProcessor } from "./vad";
export { InterruptionProcessor } from "./interruption";
export { SttProcessor } from "./stt";
export type { SttProcessorOptions } from "./stt";
export { TtsProcessor } from "./tts";
export { voicePipeline } from "./voice-pipeline";
export type { VoicePipelineParts, VoicePipelineOptions } from "./voice-pipeline";
