/**
 * A conversation's pipeline, assembled in this one place (the agent, the benches and the
 * tests all build it here). It reads as the sentence it performs:
 *
 *   the client's words come in → the VAD hears when the user starts and stops → long
 *   enough speech cuts the bot off → the recognizer writes down what was said → the
 *   brain answers → the voice speaks the answer → the client plays it
 *
 * One utterance's walk from the WebSocket to the speaker, file by file, each crossed once
 * downstream:
 *
 *   transport/server.ts          the WebSocket message arrives (one Session per connection)
 *   transport/session.ts         hands it to the session's input
 *   transport/client-input.ts    protobuf → input-audio frames (or a typed transcription)
 *   processors/vad.ts            user-started / paused / stopped-speaking (services/vad)
 *   processors/interruption.ts   holds speech over the bot until it is long enough to cut in
 *   processors/stt.ts            the utterance → a final transcription (services/stt)
 *   twin/twin-service.ts         memories + prompt → streamed llm-text (services/llm)
 *   processors/tts.ts            clauses → output-audio (services/tts)
 *   transport/client-output.ts   audio paced to the client in real time
 *   transport/client-link.ts     protobuf frames on the WebSocket, to the page's speaker
 *
 * What travels back upstream (what was heard, errors, the frames the bot's state is
 * learned from) is described in pipeline/frames.ts and pipeline/bot-state.ts.
 */
import { BotState, FrameProcessor, TurnCounter } from "../pipeline";
import type { SileroVad, VadParams } from "../services/vad";
import type { SpeechToText } from "../services/stt";
import type { TextToSpeech } from "../services/tts";
import { InterruptionProcessor } from "./interruption";
import { SttProcessor, SttProcessorOptions } from "./stt";
import { TtsProcessor, TtsProcessorOptions } from "./tts";
import { VadProcessor } from "./vad";

export interface VoicePipelineParts {
  /** The session's turn counter: every stage that stamps a turn reads it. */
  turns: TurnCounter;
  /** The session's one BotState (whether the bot speaks or owes an answer); the brain
   * given here should share it too (TwinService's `bot` option). */
  bot: BotState;
  /** Where the client's audio and text come in (transport/client-input.ts). Without it,
   * frames are queued at the pipeline's start (the benches). */
  input?: FrameProcessor;
  /** Listening: the VAD and the recognizer. Without them text comes in where the
   * transcript would be (bench:turns --text). */
  hearing?: { vad: SileroVad; stt: SpeechToText };
  /** TwinService, or a stand-in that turns transcriptions into llm-text. */
  brain: FrameProcessor;
  /** The voice; without one nothing is spoken (a bench on a machine without espeak-ng). */
  tts?: TextToSpeech;
  /** Where the answer is played (transport/client-output.ts, or a bench's speaker). */
  output: FrameProcessor;
}

export interface VoicePipelineOptions {
  vad?: Partial<VadParams>;
  /** User speech must last this long to cut the bot off (a cough must not); default InterruptionProcessor's. */
  minInterruptionMs?: number;
  stt?: SttProcessorOptions;
  tts?: TtsProcessorOptions;
}

export function voicePipeline(parts: VoicePipelineParts, options: VoicePipelineOptions = {}): FrameProcessor[] {
  const { turns, bot, input, hearing, brain, tts, output } = parts;
  return [
    ...(input ? [input] : []),
    ...(hearing
      ? [
        new VadProcessor(hearing.vad, turns, options.vad),
        new InterruptionProcessor(options.minInterruptionMs, bot),
        new SttProcessor(hearing.stt, turns, options.stt),
      ]
      : []),
    brain,
    ...(tts ? [new TtsProcessor(tts, turns, undefined, options.tts)] : []),
    output,
  ];
}
