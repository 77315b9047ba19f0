/**
 * Frames: the plain data that flows through the agent's pipeline.
 *
 * Every frame has a `type` (what it is) and a `kind` (how the pipeline treats it):
 * - `system`  — handled at once, in arrival order, jumping any queued work; survives
 *               interruptions (start/stop speaking, interruption, errors, metrics…).
 * - `data`    — ordered; dropped when the user interrupts (text, transcripts, bot audio).
 * - `control` — ordered markers around a response; dropped by interruptions too.
 *
 * One deliberate difference from the contract sketch: `input-audio` is a *system* frame,
 * as in pipecat (`InputAudioRawFrame(SystemFrame)`). The microphone audio that causes an
 * interruption is the user's next utterance, so it must not be dropped by it, and it has
 * to stay in order with the VAD's `user-started/stopped-speaking` frames (also system).
 *
 * This file is the bottom layer: it imports nothing from the agent.
 */

export type FrameKind = "system" | "data" | "control";
export type Direction = "downstream" | "upstream";

/** A marks a stage stamps on a turn (benchmark mode); see agent/src/metrics/. */
export type MetricsMark =
  | "user-stopped-speaking"
  | "transcript-final"
  | "llm-first-token"
  | "tts-first-audio"
  | "bot-started-speaking";

// ---- system frames ----------------------------------------------------------------
export interface StartFrame { type: "start"; kind: "system"; sessionId?: string }
export interface CancelFrame { type: "cancel"; kind: "system"; reason?: string }
/** The user barged in: drop queued data/control work now and abort in-flight calls. */
export interface InterruptionFrame { type: "interruption"; kind: "system" }
export interface UserStartedSpeakingFrame { type: "user-started-speaking"; kind: "system"; at?: number }
export interface UserStoppedSpeakingFrame { type: "user-stopped-speaking"; kind: "system"; at?: number }
/** A short silence (shorter than the one that ends a turn): the user may have finished, so the answer is prepared, not spoken. */
export interface UserPausedSpeakingFrame { type: "user-paused-speaking"; kind: "system"; at?: number }
/**
 * The user began to speak while the bot is busy; InterruptionProcessor holds the speech
 * until it has lasted long enough to be a barge-in. The brain may stop generating now and
 * prepare for the user's turn; an `interruption` follows, or `barge-in-withdrawn`.
 */
export interface BargeInPendingFrame { type: "barge-in-pending"; kind: "system" }
/** The held speech did not cut the bot off (too short: a cough, a "mm-hm"; or the bot had
 * finished meanwhile): what `barge-in-pending` paused goes on. */
export interface BargeInWithdrawnFrame { type: "barge-in-withdrawn"; kind: "system" }
export interface BotStartedSpeakingFrame { type: "bot-started-speaking"; kind: "system" }
export interface BotStoppedSpeakingFrame { type: "bot-stopped-speaking"; kind: "system" }
/** `fatal` ends the session; a non-fatal error is told to the user and the session goes on. */
export interface ErrorFrame { type: "error"; kind: "system"; message: string; fatal: boolean }
/** `at` is `performance.now()` in the agent process. */
export interface MetricsFrame { type: "metrics"; kind: "system"; turnId: number; mark: MetricsMark; at: number }
/**
 * A JSON message for the page, e.g. a turn's latency report (LatencyReporter's `sendToPage`).
 * It does not travel the pipeline: its `data` goes to the page through the session's
 * `sendServerMessage` (RTVI `server-message`).
 */
export interface ServerMessageFrame { type: "server-message"; kind: "system"; data: unknown }
/** Microphone audio, mono PCM16. System kind: see the note at the top. */
export interface InputAudioFrame { type: "input-audio"; kind: "system"; pcm: Int16Array; sampleRate: number }

// ---- data frames ------------------------------------------------------------------
/**
 * Bot audio, mono PCM16; `text` = the words this chunk ends (for bot-spoken-text);
 * `clause` = the clause every chunk of it belongs to, so a clause cut partway can be told apart.
 */
export interface OutputAudioFrame { type: "output-audio"; kind: "data"; pcm: Int16Array; sampleRate: number; text?: string; clause?: string }
/**
 * `final`: the user stopped; the brain answers it. Not final: an interim transcript of
 * the utterance so far (the page shows it; the brain only warms the LLM's prompt cache),
 * `atPause` when it covers everything up to a pause (the brain prepares the whole prompt).
 */
export interface TranscriptionFrame { type: "transcription"; kind: "data"; text: string; final: boolean; turnId: number; atPause?: boolean }
export interface LlmTextFrame { type: "llm-text"; kind: "data"; text: string }
export interface TtsTextFrame { type: "tts-text"; kind: "data"; text: string }
/**
 * Pushed UPSTREAM by the output transport once the audio carrying these words has been
 * sent to the client; the brain writes the assistant turn from these, so an interrupted
 * turn keeps only what was heard. Upstream data frames are never dropped by interruptions.
 */
export interface BotSpokenTextFrame {
  type: "bot-spoken-text"; kind: "data"; text: string;
  /** The heard words of a clause the user cut off partway (an estimate: see ClientOutputTransport). */
  partial?: boolean;
}

// ---- control frames ---------------------------------------------------------------
/** `tokensPerSecond`: how fast the LLM generated the last answer (the TTS starts sooner when it is slower than speech). */
export interface LlmResponseStartFrame { type: "llm-response-start"; kind: "control"; turnId?: number; tokensPerSecond?: number }
export interface LlmResponseEndFrame { type: "llm-response-end"; kind: "control"; turnId?: number }
export interface TtsStartedFrame { type: "tts-started"; kind: "control" }
export interface TtsStoppedFrame { type: "tts-stopped"; kind: "control" }

export type Frame =
  | StartFrame | CancelFrame | InterruptionFrame
  | UserStartedSpeakingFrame | UserStoppedSpeakingFrame | UserPausedSpeakingFrame | BargeInPendingFrame | BargeInWithdrawnFrame
  | BotStartedSpeakingFrame | BotStoppedSpeakingFrame
  | ErrorFrame | MetricsFrame | ServerMessageFrame | InputAudioFrame
  | OutputAudioFrame | TranscriptionFrame | LlmTextFrame | TtsTextFrame | BotSpokenTextFrame
  | LlmResponseStartFrame | LlmResponseEndFrame | TtsStartedFrame | TtsStoppedFrame;

export type FrameType = Frame["type"];
export type FrameOf<T extends FrameType> = Extract<Frame, { type: T }>;
export type FrameFields<T extends FrameType> = Omit<FrameOf<T>, "type" | "kind">;

/** The kind of each frame type, in one place. */
export const FRAME_KINDS: { readonly [T in FrameType]: FrameOf<T>["kind"] } = {
  "start": "system",
  "cancel": "system",
  "interruption": "system",
  "user-started-speaking": "system",
  "user-stopped-speaking": "system",
  "user-paused-speaking": "system",
  "barge-in-pending": "system",
  "barge-in-withdrawn": "system",
  "bot-started-speaking": "system",
  "bot-stopped-speaking": "system",
  "error": "system",
  "metrics": "system",
  "server-message": "system",
  "input-audio": "system",
  "output-audio": "data",
  "transcription": "data",
  "llm-text": "data",
  "tts-text": "data",
  "bot-spoken-text": "data",
  "llm-response-start": "control",
  "llm-response-end": "control",
  "tts-started": "control",
  "tts-stopped": "control",
};

type FieldsArg<T extends FrameType> = {} extends FrameFields<T> ? [fields?: FrameFields<T>] : [fields: FrameFields<T>];

/**
 * Builds a frame with its kind filled in:
 * `frame("llm-text", { text: "Hi" })`, `frame("interruption")`.
 */
export function frame<T extends FrameType>(type: T, ...args: FieldsArg<T>): FrameOf<T> {
  return { ...(args[0] ?? {}), type, kind: FRAME_KINDS[type] } as FrameOf<T>;
}

/** One PCM16 signal from consecutive chunks (an utterance, a clause's audio). */
export function concatPcm(chunks: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
