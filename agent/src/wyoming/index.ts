// Speech over Wyoming (Home Assistant's protocol for speech services): Aide's recognizer
// and voice served to other machines (serve.ts), and the agent's engines that use them.
export { RemoteSpeechToText, RemoteTextToSpeech } from "./remote";
export type { RemoteSpeechOptions, RemoteTextToSpeechOptions } from "./remote";
export { startSpeechService } from "./serve";
export type { RunningWyomingServer } from "./server";
