export { VadProcessor } from "./vad";
export { InterruptionProcessor } from "./interruption";
export { SttProcessor } from "./stt";
export type { SttProcessorOptions } from "./stt";
export { TtsProcessor } from "./tts";
export { voiceStages } from "./voice-stages";
export type { VoiceStageParts, VoiceStageOptions } from "./voice-stages";
