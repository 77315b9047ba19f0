// Job arguments for the seed's cluster (aide-01..03, 192.168.1.101..103) used by the
// job tests: one place, so every test checks the same jobs the program would build.
import {
  embeddingsJob, llamaBenchJob, llamaCppRpcJob, primaCppJob, voiceAgentJob, wyomingServiceJob, EmbeddingsJobArgs, LlamaCppRpcJobArgs, NomadJobSpec,
  PrimaCppJobArgs, Task, TaskGroup, VoiceAgentJobArgs, WyomingServiceJobArgs,
} from "../../../nomad-jobs";

export const SEED_NODES = [
  { node: "aide-01", address: "192.168.1.101" },
  { node: "aide-02", address: "192.168.1.102" },
  { node: "aide-03", address: "192.168.1.103" },
];

const role = (node: string) => ({ node, threads: 2, memoryMB: 3000, cpuMHz: 4000 });

export function rpcArgs(overrides: Partial<LlamaCppRpcJobArgs> = {}): LlamaCppRpcJobArgs {
  return {
    datacenters: ["dc1"],
    binDir: "/opt/aide/llama/bin",
    modelPath: "/var/lib/aide/models/model.gguf",
    modelAlias: "qwen2-5-7b-q4",
    contextSize: 4096,
    parallel: 1,
    head: role("aide-01"),
    workers: [{ ...role("aide-02"), share: 10 }, { ...role("aide-03"), share: 8 }],
    offloadedLayers: 18,
    ...overrides,
  };
}

export function primaArgs(overrides: Partial<PrimaCppJobArgs> = {}): PrimaCppJobArgs {
  return {
    datacenters: ["dc1"],
    binDir: "/opt/aide/prima/bin",
    nodeBinary: "/opt/aide/node/bin/node",
    modelPath: "/var/lib/aide/models/model.gguf",
    modelAlias: "qwen2-5-7b-q4",
    contextSize: 4096,
    parallel: 1,
    ranks: SEED_NODES.map((n, i) => ({ ...n, threads: 2, layers: [10, 9, 9][i], memoryMB: 3000, cpuMHz: 4000 })),
    ...overrides,
  };
}

export function agentArgs(overrides: Partial<VoiceAgentJobArgs> = {}): VoiceAgentJobArgs {
  return {
    datacenters: ["dc1"], agentDir: "/opt/aide/agent", nodeBinary: "/opt/aide/node/bin/node", modelsDir: "/var/lib/aide/models",
    port: 8080, benchmarkMode: false, ...overrides,
  };
}

export function wyomingArgs(overrides: Partial<WyomingServiceJobArgs> = {}): WyomingServiceJobArgs {
  return {
    datacenters: ["dc1"], agentDir: "/opt/aide/agent", nodeBinary: "/opt/aide/node/bin/node", modelsDir: "/var/lib/aide/models",
    kind: "stt", nodes: ["aide-03", "aide-01"], sttThreads: 1, ttsVoice: "auto", ...overrides,
  };
}

export function embeddingsArgs(overrides: Partial<EmbeddingsJobArgs> = {}): EmbeddingsJobArgs {
  return {
    datacenters: ["dc1"], binDir: "/opt/aide/engine/bin", modelPath: "/var/lib/aide/models/embedding/all-minilm-l6-v2-q4_k_m.gguf",
    nodes: ["aide-03", "aide-01"], ...overrides,
  };
}

/** The group's main task (not a prestart helper). */
export function mainTask(group: TaskGroup): Task {
  return group.Tasks.find((t) => !t.Lifecycle)!;
}

/** Every job and variant the program can register. */
export function allJobs(): Record<string, NomadJobSpec> {
  return {
    "llamacpp-rpc split over 3 nodes": llamaCppRpcJob(rpcArgs()),
    "llamacpp-rpc on one node": llamaCppRpcJob(rpcArgs({ workers: [], offloadedLayers: 0 })),
    "primacpp ring of 3": primaCppJob(primaArgs()),
    "primacpp ring with a fixed API port": primaCppJob(primaArgs({ httpPort: 8081 })),
    "llamacpp-rpc with a fixed API port": llamaCppRpcJob(rpcArgs({ httpPort: 8081 })),
    "voice-agent with vision": voiceAgentJob({
      ...agentArgs(), benchmarkMode: true, ttsVoice: "espeak", vad: { startThreshold: 0.5, minSilenceMs: 500 },
      vision: { source: "camera:/dev/video0", memoryMB: 600, cpuMHz: 1000 },
    }),
    "voice-agent without vision": voiceAgentJob(agentArgs()),
    "aide-stt": wyomingServiceJob(wyomingArgs()),
    "aide-tts": wyomingServiceJob(wyomingArgs({ kind: "tts", nodes: ["aide-01"] })),
    "aide-embeddings": embeddingsJob(embeddingsArgs()),
    "voice-agent over https": voiceAgentJob(agentArgs({ port: 8443, tls: { dir: "/var/lib/aide/tls", httpPort: 8080 } })),
    "llama-bench local": llamaBenchJob({
      datacenters: ["dc1"], binDir: "/opt/aide/llama/bin", modelPath: "/var/lib/aide/models/model.gguf", modelAlias: "qwen2-5-7b-q4",
      backend: "llamacpp-rpc", node: "aide-01", threads: 2, memoryMB: 5000, cpuMHz: 4000,
    }),
    "llama-bench over rpc": llamaBenchJob({
      datacenters: ["dc1"], binDir: "/opt/aide/llama/bin", modelPath: "/var/lib/aide/models/model.gguf", modelAlias: "qwen2-5-7b-q4",
      backend: "llamacpp-rpc", node: "aide-01", threads: 2, memoryMB: 3000, cpuMHz: 4000,
      rpc: { workers: [{ node: "aide-02", share: 10 }, { node: "aide-03", share: 8 }], offloadedLayers: 18 },
    }),
  };
}
