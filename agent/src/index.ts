export { startVoiceAgent } from "./main";
export type { RunningAgent } from "./main";
export { loadConfig, defaultConfig, ConfigError } from "./config";
export type { AgentConfig } from "./config";
