/**
 * The middle of every session's pipeline, in the order a turn flows through it:
 *
 *   (client input) → VAD → interruption → STT → brain → TTS → (client output)
 */
import { FrameProcessor, TurnCounter } from "../pipeline";
import type { SileroVad, VadParams } from "../services/vad";
import type { SpeechToText } from "../services/stt";
import type { TextToSpeech } from "../services/tts";
import { InterruptionProcessor } from "./interruption";
import { SttProcessor, SttProcessorOptions } from "./stt";
import { TtsProcessor, TtsProcessorOptions } from "./tts";
import { VadProcessor } from "./vad";

export interface VoiceStageParts {
  vad: SileroVad;
  stt: SpeechToText;
  /** TwinService, or a stand-in that turns transcriptions into llm-text. */
  brain: FrameProcessor;
  tts: TextToSpeech;
}

export interface VoiceStageOptions {
  vad?: Partial<VadParams>;
  /** User speech must last this long to cut the bot off (a cough must not). */
  minInterruptionMs?: number;
  stt?: SttProcessorOptions;
  tts?: TtsProcessorOptions;
}

export function voiceStages(turns: TurnCounter, parts: VoiceStageParts, options: VoiceStageOptions = {}): FrameProcessor[] {
  return [
    new VadProcessor(parts.vad, turns, options.vad),
    new InterruptionProcessor(options.minInterruptionMs ?? 300),
    new SttProcessor(parts.stt, turns, options.stt),
    parts.brain,
    new TtsProcessor(parts.tts, turns, undefined, options.tts),
  ];
}
