/**
 * pipecat's WebSocket wire format, parsed once at the edge into typed values.
 *
 * Binary protobuf `pipecat.Frame { oneof frame { text = 1; audio = 2; transcription = 3;
 * message = 4 } }` (field numbers as in pipecat's frames.proto and in the generated
 * serializer inside @pipecat-ai/websocket-transport 1.7), with RTVI JSON
 * (`label: "rtvi-ai"`) carried as a string in `message.data`.
 */
import * as protobuf from "protobufjs";

function buildSchema(): protobuf.Type {
  const root = new protobuf.Root();
  const ns = root.define("pipecat");
  ns.add(new protobuf.Type("TextFrame")
    .add(new protobuf.Field("id", 1, "uint64"))
    .add(new protobuf.Field("name", 2, "string"))
    .add(new protobuf.Field("text", 3, "string")));
  ns.add(new protobuf.Type("AudioRawFrame")
    .add(new protobuf.Field("id", 1, "uint64"))
    .add(new protobuf.Field("name", 2, "string"))
    .add(new protobuf.Field("audio", 3, "bytes"))
    .add(new protobuf.Field("sampleRate", 4, "uint32"))
    .add(new protobuf.Field("numChannels", 5, "uint32"))
    .add(new protobuf.Field("pts", 6, "uint64")));
  ns.add(new protobuf.Type("TranscriptionFrame")
    .add(new protobuf.Field("id", 1, "uint64"))
    .add(new protobuf.Field("name", 2, "string"))
    .add(new protobuf.Field("text", 3, "string"))
    .add(new protobuf.Field("userId", 4, "string"))
    .add(new protobuf.Field("timestamp", 5, "string")));
  ns.add(new protobuf.Type("MessageFrame").add(new protobuf.Field("data", 1, "string")));
  const frameType = new protobuf.Type("Frame")
    .add(new protobuf.OneOf("frame", ["text", "audio", "transcription", "message"]))
    .add(new protobuf.Field("text", 1, "TextFrame"))
    .add(new protobuf.Field("audio", 2, "AudioRawFrame"))
    .add(new protobuf.Field("transcription", 3, "TranscriptionFrame"))
    .add(new protobuf.Field("message", 4, "MessageFrame"));
  ns.add(frameType);
  root.resolveAll();
  return frameType;
}

const FrameType = buildSchema();

/** Mic audio from a pipecat client: 16 kHz mono PCM16, 512-byte chunks. */
export const CLIENT_INPUT_SAMPLE_RATE = 16000;
/** pipecat's browser player plays everything as 24 kHz mono PCM16 (it ignores sample_rate). */
export const CLIENT_OUTPUT_SAMPLE_RATE = 24000;
export const RTVI_LABEL = "rtvi-ai";
export const RTVI_PROTOCOL_VERSION = "2.1.0";

export interface RtviMessage {
  label: typeof RTVI_LABEL;
  type: string;
  id?: string;
  data?: unknown;
}

/**
 * Every RTVI message the agent sends the page, by type, with its `data` (undefined: it
 * has none). The page is pipecat's client: these are RTVI 2.1's names and fields.
 */
export interface ServerRtviData {
  "bot-ready": { version: string; about: Record<string, string | boolean> };
  /** `fatal` makes pipecat's client disconnect; `pairing` says the pairing code is missing or wrong (web/client.ts asks for it). */
  "error": { message: string; fatal: boolean; pairing?: string };
  /** The answer to a client request (carrying its id) that Aide refuses. */
  "error-response": { error: string };
  "user-transcription": { text: string; final: boolean; timestamp: string; user_id: string };
  "user-started-speaking": undefined;
  "user-stopped-speaking": undefined;
  "bot-started-speaking": undefined;
  "bot-stopped-speaking": undefined;
  "bot-llm-started": undefined;
  "bot-llm-stopped": undefined;
  "bot-llm-text": { text: string };
  "bot-tts-started": undefined;
  "bot-tts-stopped": undefined;
  "bot-tts-text": { text: string };
  /** The words whose audio was sent: the page's transcript shows what was said. */
  "bot-output": { text: string; spoken: boolean; aggregated_by: "word" | "sentence" };
  /** Aide's own JSON for the page (a turn's latency report). */
  "server-message": unknown;
}
export type ServerRtviType = keyof ServerRtviData;
/** One message the agent sends: the union over its types. */
export type ServerRtviMessage = { [T in ServerRtviType]: { label: typeof RTVI_LABEL; type: T; id?: string; data?: ServerRtviData[T] } }[ServerRtviType];
/** `data` (optional for the types that carry none), then the id of the request answered. */
export type ServerRtviArgs<T extends ServerRtviType> =
  undefined extends ServerRtviData[T] ? [data?: ServerRtviData[T], id?: string] : [data: ServerRtviData[T], id?: string];

export type ClientMessage =
  | { kind: "audio"; pcm: Int16Array; sampleRate: number; numChannels: number }
  | { kind: "text"; text: string }
  | { kind: "rtvi"; message: RtviMessage };

/** A message the client sent that we cannot use; `message` is what the client is told. */
export class WireError extends Error {}

interface DecodedFrame {
  frame?: "text" | "audio" | "transcription" | "message";
  text?: { text?: string };
  audio?: { audio?: Uint8Array; sampleRate?: number; numChannels?: number };
  transcription?: { text?: string };
  message?: { data?: string };
}

export function decodeClientMessage(bytes: Uint8Array): ClientMessage {
  let decoded: DecodedFrame;
  try {
    decoded = FrameType.decode(bytes) as unknown as DecodedFrame;
  } catch (error) {
    throw new WireError(`malformed protobuf frame (${(error as Error).message}): send pipecat.Frame messages as serialized by @pipecat-ai/websocket-transport`);
  }
  switch (decoded.frame) {
    case "audio": {
      const audio = decoded.audio ?? {};
      const raw = audio.audio ?? new Uint8Array(0);
      if (raw.byteLength % 2 !== 0) throw new WireError(`audio frame of ${raw.byteLength} bytes is not whole 16-bit samples: send mono PCM16`);
      // Copy into an aligned buffer: the protobuf slice may start at an odd offset.
      const pcm = new Int16Array(raw.byteLength / 2);
      new Uint8Array(pcm.buffer).set(raw);
      return { kind: "audio", pcm, sampleRate: audio.sampleRate ?? 0, numChannels: audio.numChannels ?? 0 };
    }
    case "text":
      return { kind: "text", text: decoded.text?.text ?? "" };
    case "transcription":
      return { kind: "text", text: decoded.transcription?.text ?? "" };
    case "message":
      return { kind: "rtvi", message: parseRtvi(decoded.message?.data ?? "") };
    default:
      throw new WireError("frame carries none of text, audio, transcription or message: unknown frame type");
  }
}

/**
 * Deepest JSON nesting accepted in an RTVI message; pipecat's own messages nest 3 deep.
 * JSON.parse copes with any depth, but JSON.stringify and every recursive walk after it
 * overflow the stack at ~10,000 levels (a 20 KB message did that and ended the process).
 */
export const MAX_RTVI_DEPTH = 32;
/** Longest RTVI type or id accepted; pipecat's are under 30 characters. */
const MAX_RTVI_NAME = 100;

function parseRtvi(json: string): RtviMessage {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new WireError("message frame is not JSON: RTVI messages are JSON objects with label \"rtvi-ai\"");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new WireError("message frame is not a JSON object: expected an RTVI message");
  if (nestingDepth(value, MAX_RTVI_DEPTH) > MAX_RTVI_DEPTH) {
    throw new WireError(`RTVI message nests deeper than ${MAX_RTVI_DEPTH} levels: send flat data (pipecat's messages nest 3 deep)`);
  }
  const m = value as Record<string, unknown>;
  if (m.label !== RTVI_LABEL) throw new WireError(`message label ${describeValue(m.label)} is not "${RTVI_LABEL}": only RTVI messages are understood`);
  if (typeof m.type !== "string" || m.type.length === 0) throw new WireError("RTVI message has no type");
  if (m.type.length > MAX_RTVI_NAME) throw new WireError(`RTVI message type of ${m.type.length} characters is over the ${MAX_RTVI_NAME}-character limit`);
  if (m.id !== undefined && typeof m.id !== "string") throw new WireError("RTVI message id must be a string");
  if (typeof m.id === "string" && m.id.length > MAX_RTVI_NAME) throw new WireError(`RTVI message id of ${m.id.length} characters is over the ${MAX_RTVI_NAME}-character limit`);
  return { label: RTVI_LABEL, type: m.type, id: m.id as string | undefined, data: m.data };
}

/** How deep `value` nests, counted without recursion and stopping once past `limit`. */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** A client's value quoted in an error message: short, and never a walk of its structure. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

/** An audio frame, either way: the server's bot audio, or a test client's mic audio. */
export function encodeAudio(pcm: Int16Array, sampleRate: number, numChannels = 1): Uint8Array {
  const audio = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  return FrameType.encode({ audio: { id: 0, name: "audio", audio, sampleRate, numChannels } }).finish();
}

/** A message from the agent to the page: only the types in ServerRtviData, each with its data. */
export function encodeServerRtvi<T extends ServerRtviType>(type: T, ...[data, id]: ServerRtviArgs<T>): Uint8Array {
  return encodeRtvi(type, data, id);
}

/** Any RTVI message, either way (a test client's too, including ones Aide refuses). */
export function encodeRtvi(type: string, data?: unknown, id?: string): Uint8Array {
  const message: RtviMessage = { label: RTVI_LABEL, type, ...(id !== undefined ? { id } : {}), ...(data !== undefined ? { data } : {}) };
  return encodeMessageFrame(JSON.stringify(message));
}

/** A message frame carrying `json` as is (tests use it to send what no encoder would). */
export function encodeMessageFrame(json: string): Uint8Array {
  return FrameType.encode({ message: { data: json } }).finish();
}

export type ServerMessage =
  | { kind: "audio"; pcm: Int16Array; sampleRate: number }
  | { kind: "rtvi"; message: RtviMessage };

/** Decodes what the server sends (used by tests and the benchmark's scripted client). */
export function decodeServerMessage(bytes: Uint8Array): ServerMessage {
  const m = decodeClientMessage(bytes);
  if (m.kind === "audio") return { kind: "audio", pcm: m.pcm, sampleRate: m.sampleRate };
  if (m.kind === "rtvi") return m;
  throw new WireError("server sent a text frame");
}
