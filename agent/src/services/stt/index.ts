// Speech to text: the utterance the VAD closed → its transcript, through sherpa-onnx
// (ONNX Runtime without AVX: runs on a Core 2). The pipeline's STT processor wraps this.
export type { SpeechToText, Transcript, SttOptions } from "./sherpa";
export { createSpeechToText, SttInputError, recognizerConfig } from "./sherpa";
