// The agent's one port (page, /health, WebSocket) and pipecat's wire format. Sessions,
// the client-facing stages and the link between them stay inside this room.
export { startAgentServer, PAIRING_CLOSE_CODES, PAIRING_HEADER } from "./server";
export { PairingGate, WRONG_CODES_PER_MINUTE, newPairingCode, normalizePairingCode, pairingCodeProblem } from "./pairing";
export type { PairingVerdict } from "./pairing";
export type { AgentServer, AgentServerOptions, StaticAsset } from "./server";
export type { SessionContext, StageFactory, SessionOptions } from "./session";
export { ScriptedClient } from "./scripted-client";
export {
  CLIENT_INPUT_SAMPLE_RATE, CLIENT_OUTPUT_SAMPLE_RATE, RTVI_PROTOCOL_VERSION,
  decodeClientMessage, decodeServerMessage, encodeAudio, encodeRtvi, WireError,
} from "./wire";
export type { RtviMessage, ClientMessage, ServerMessage, ServerRtviData, ServerRtviMessage, ServerRtviType } from "./wire";
