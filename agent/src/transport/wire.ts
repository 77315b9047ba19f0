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

function parseRtvi(json: string): RtviMessage {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new WireError("message frame is not JSON: RTVI messages are JSON objects with label \"rtvi-ai\"");
  }
  if (typeof value !== "object" || value === null) throw new WireError("message frame is not a JSON object: expected an RTVI message");
  const m = value as Record<string, unknown>;
  if (m.label !== RTVI_LABEL) throw new WireError(`message label ${JSON.stringify(m.label)} is not "${RTVI_LABEL}": only RTVI messages are understood`);
  if (typeof m.type !== "string" || m.type.length === 0) throw new WireError("RTVI message has no type");
  if (m.id !== undefined && typeof m.id !== "string") throw new WireError("RTVI message id must be a string");
  return { label: RTVI_LABEL, type: m.type, id: m.id as string | undefined, data: m.data };
}

/** An audio frame, either way: the server's bot audio, or a test client's mic audio. */
export function encodeAudio(pcm: Int16Array, sampleRate: number, numChannels = 1): Uint8Array {
  const audio = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  return FrameType.encode({ audio: { id: 0, name: "audio", audio, sampleRate, numChannels } }).finish();
}

export function encodeRtvi(type: string, data?: unknown, id?: string): Uint8Array {
  const message: RtviMessage = { label: RTVI_LABEL, type, ...(id !== undefined ? { id } : {}), ...(data !== undefined ? { data } : {}) };
  return FrameType.encode({ message: { data: JSON.stringify(message) } }).finish();
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
