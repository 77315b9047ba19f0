// Aide's Nomad jobs as typed builders returning Nomad API JSON (`{ Job: … }`): what the
// Pulumi program registers, and what a user can run by hand with `nomad job run -json`.
export type { NomadJobSpec, Job, TaskGroup, Task, Template } from "./types";
export { LLM_JOB_ID, LLM_SERVICE, seconds, TASK_USER } from "./common";
export { llamaCppRpcJob, rpcServiceName, type LlamaCppRpcJobArgs, type LlamaNodeRole, type WorkerFallback } from "./llamacpp-rpc";
export { primaCppJob, PRIMA_MAX_RANKS, PRIMA_DATA_PORT, PRIMA_SIGNAL_PORT, DEFAULT_RING_CHECK, LOCAL_NOMAD_API, type PrimaCppJobArgs, type PrimaRank, type RingCheck } from "./primacpp";
export { voiceAgentJob, serviceEndpointsTemplate, AGENT_JOB_ID, AGENT_SERVICE, ENDPOINTS_FILE, WEBCAM_META, type VoiceAgentJobArgs } from "./voice-agent";
export { llamaBenchJob, BENCH_JOB_ID, BENCH_TASK, type LlamaBenchJobArgs } from "./llama-bench";
export { wyomingServiceJob, embeddingsJob, STT_SERVICE, TTS_SERVICE, EMBEDDINGS_SERVICE, EMBEDDINGS_SERVER, SPEECH_SERVICE_MEMORY_MB, WYOMING_SERVICES, type WyomingKind, type WyomingServiceJobArgs, type EmbeddingsJobArgs } from "./speech-services";
export { speechEnv, type AgentRuntimeArgs } from "./agent-runtime";
