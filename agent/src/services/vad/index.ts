export { SileroVad, bundledSileroModelPath, VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE } from "./silero";
export { TurnDetector, DEFAULT_VAD_PARAMS } from "./turn-detector";
export type { VadParams, VadEvent } from "./turn-detector";
