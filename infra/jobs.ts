// The jobs the cluster runs, NomadJobs that the Jobs component registers once Nomad is
// ready: the LLM backend the stack chose (its layers placed by the planner), the voice
// agent, the speech services beside it (STT, TTS and long-term memory's embeddings, placed
// away from the LLM by the planner), and the llama-bench benchmark. Switching `backend`
// changes only the LLM's jobs: the agent finds every service through Nomad, whichever node
// or backend serves it.
import { existsSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import {
  embeddingsJob, llamaBenchJob, llamaCppRpcJob, NomadJobSpec, primaCppJob, voiceAgentJob, wyomingServiceJob, BENCH_JOB_ID, AGENT_JOB_ID,
  EMBEDDINGS_SERVICE, LLM_JOB_ID, SPEECH_SERVICE_MEMORY_MB, WYOMING_SERVICES, type AgentRuntimeArgs, type WorkerFallback,
} from "../nomad-jobs";
import { benchRpcServiceName } from "../nomad-jobs/llamacpp-rpc";
import { aideCache } from "../lib/cache";
import { AideConfig, NodeConfig, NodeFacts } from "./config";
import { AGENT_DIR, EMBEDDING_MODEL, ENGINE_PREFIX, MODEL_DIR } from "./distribution";
import { readModelFacts } from "./model-facts";
import { NomadConnection, NomadJob } from "./nomad-job";
import {
  LayerPlan, LayerShare, llamaCppSplit, ModelFacts, PlannerNode, placeSideServices, planLayers, PlanOptions,
  SideService, SIDE_SERVICES, SideServicePlacement, workerFallbacks,
} from "./planner";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Context per conversation, and conversations at once: one voice conversation. */
export const LLM_CONTEXT = 4096;
export const LLM_PARALLEL = 1;
/** RAM the OS, Nomad and the page cache keep on every node (facts give total RAM only). */
const NODE_HEADROOM = 1.5 * GiB;
/** The agent's process (VAD, STT, TTS, WebSocket) and the vision detector beside it. */
const AGENT_MEMORY_MB = 1536;
const VISION_MEMORY_MB = 600;
/** The most host RAM the head's prompt cache takes (npm start gives its llama-server the same). */
const MAX_PROMPT_CACHE_MIB = 1024;
/** Where infra/scripts/agent-tls.sh puts the agent's certificate, key, CA and pairing code. */
export const AGENT_TLS_DIR = "/var/lib/aide/tls";
/** Node.js as infra/scripts/nodejs.sh installs it. */
const NODE_BINARY = "/opt/aide/node/bin/node";

export interface JobsArgs {
  config: AideConfig;
  /** The stack's nodes with the facts gathered at provisioning (LegacyNode fits). */
  nodes: Array<{ name: string; node: NodeConfig; facts: pulumi.Output<NodeFacts> }>;
  nomadAddress: pulumi.Input<string>;
  /** ACL token for Nomad's API (a secret); default: the stack's optional secret
   * `nomadToken` (pulumi config set --secret nomadToken …), needed once ACLs are on. */
  nomadToken?: pulumi.Input<string>;
  /** Jobs register only after these (the cluster's readiness check). */
  dependsOn: pulumi.Resource[];
  /** The model's GGUF facts; read from the model (local copy or URL) when not given. */
  modelFacts?: ModelFacts;
}

/** The job specs the program registers, by what they are. */
export type JobName = "llm" | "agent" | "bench" | SideService;

/** The model's header from a local copy ($AIDE_CACHE/models/<name>) or, without one, from
 * its download URL with range requests. */
export function modelFactsFor(config: AideConfig): ModelFacts {
  const local = aideCache("models", config.model.name);
  return readModelFacts(existsSync(local) ? local : config.model.url);
}

/** "Intel(R) Core(TM)2 Duo CPU E8400 @ 3.00GHz" → 3000. */
function cpuMHz(facts: NodeFacts): number {
  const m = /@\s*([\d.]+)\s*GHz/i.exec(facts.cpuModel);
  return m ? Math.round(Number(m[1]) * 1000) : 2000;
}

/** A Nomad-safe model name: "Qwen2.5-1.5B-Instruct-Q4_0.gguf" → "qwen2-5-1-5b-instruct-q4-0". */
export function modelAlias(fileName: string): string {
  return fileName.replace(/\.gguf$/i, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 63).replace(/^-+|-+$/g, "") || "model";
}

/** Where the agent runs: the node with the camera, else the first Nomad server (the
 * program's `agentPage` says the same). The planner keeps the LLM off it when it can, so
 * speech and the LLM do not share cores. */
export function agentNode(config: AideConfig): NodeConfig {
  return config.nodes.find((n) => n.webcam) ?? config.servers[0];
}

export function llmJobSpec(config: AideConfig, plan: LayerPlan, facts: Record<string, NodeFacts>, fallbacks: WorkerFallback[] = []): NomadJobSpec {
  const common = {
    datacenters: [config.nomad.datacenter],
    binDir: `${ENGINE_PREFIX}/bin`,
    modelPath: `${MODEL_DIR}/${config.model.name}`,
    modelAlias: modelAlias(config.model.name),
    contextSize: LLM_CONTEXT,
    parallel: LLM_PARALLEL,
  };
  const role = (s: LayerShare) => ({
    node: s.node, threads: s.threads, memoryMB: Math.ceil(s.memoryBytes / MiB), cpuMHz: s.threads * cpuMHz(facts[s.node]),
  });
  if (config.backend === "primacpp") {
    return primaCppJob({ ...common, nodeBinary: NODE_BINARY, ranks: plan.shares.map((s) => ({ ...role(s), address: s.address, layers: s.layers })) });
  }
  const split = llamaCppSplit(plan);
  // The head may move to a standby node (single mode): its reservation must fit there too.
  const standby = plan.mode === "single" ? plan.standby ?? [] : [];
  // The prompt cache lives in what the plan leaves of the head's budget, and is reserved with it.
  const spare = Math.min(...[split.head.freeBytes, ...standby.map((s) => s.freeBytes)].map((free) => free - split.head.memoryBytes));
  const cacheRamMiB = Math.max(0, Math.min(MAX_PROMPT_CACHE_MIB, Math.floor(spare / MiB)));
  const head = role(split.head);
  return llamaCppRpcJob({
    ...common,
    head: { ...head, memoryMB: head.memoryMB + cacheRamMiB, standby: standby.map((s) => s.node) },
    fallbacks,
    cacheRamMiB,
    workers: split.workers.map((w) => ({ ...role(w), share: w.layers })),
    offloadedLayers: split.offloadedLayers,
    kvCacheType: plan.kvCacheType, // the RAM above was counted for it
  });
}

/** The benchmark: on the head alone, or over the bench's own RPC workers (the llamacpp-rpc
 * job keeps an idle one beside each serving worker: a ggml-rpc-server serves one client
 * at a time, and llama-server holds the serving ones). A run loads a second copy of each
 * worker's layers into its bench worker, so it is registered stopped (the reason says why
 * and how to run it) when a worker has no room for that copy, and with prima.cpp, whose
 * build has no llama-bench. */
export function benchJobSpec(config: AideConfig, plan: LayerPlan, facts: Record<string, NodeFacts>): { spec: NomadJobSpec; why: string } {
  const split = llamaCppSplit(plan);
  const free = (node: string) => facts[node].ramMb * MiB - NODE_HEADROOM;
  const prima = config.backend === "primacpp";
  const crowded = prima ? [] : split.workers.filter((w) => free(w.node) < 2 * w.memoryBytes);
  const spec = llamaBenchJob({
    datacenters: [config.nomad.datacenter],
    binDir: `${ENGINE_PREFIX}/bin`,
    modelPath: `${MODEL_DIR}/${config.model.name}`,
    modelAlias: modelAlias(config.model.name),
    backend: config.backend,
    node: split.head.node,
    threads: split.head.threads,
    // The weights are mmapped from the same file the running server maps: shared page
    // cache, so the reservation covers only the bench's own KV and buffers.
    memoryMB: 512,
    cpuMHz: split.head.threads * cpuMHz(facts[split.head.node]),
    rpc: !prima && split.workers.length ? { workers: split.workers.map((w) => ({ node: w.node, share: w.layers })), offloadedLayers: split.offloadedLayers } : undefined,
    stopped: prima || crowded.length > 0,
  });
  const where = split.workers.length
    ? `on ${split.head.node} with its own RPC worker on ${split.workers.map((w) => w.node).join(", ")} (${benchRpcServiceName("<node>")}, idle beside the serving one until a run loads its copy of the layers)`
    : `on ${split.head.node} alone`;
  return {
    spec,
    why: prima
      ? `llama-bench: registered stopped — prima.cpp's build has no llama-bench; switch to llamacpp-rpc to benchmark`
      : crowded.length
      ? `llama-bench: registered stopped — ${crowded.map((w) => w.node).join(", ")} cannot hold a second copy of its layers beside the running server ` +
        `(a run loads one into the bench's own RPC worker there, since a ggml-rpc-server serves one client at a time and llama-server holds the serving one); ` +
        `to measure, free the serving copy while it runs: nomad job scale ${LLM_JOB_ID} head 0, ` +
        `run ${BENCH_JOB_ID} (nomad job run -json with Stop removed), npm run bench:results, then nomad job scale ${LLM_JOB_ID} head 1`
      : `llama-bench: ${where}; results: npm run bench:results`,
  };
}

/**
 * The layer plan made knowing where the speech services go. They avoid the LLM's nodes, so
 * their RAM counts only on the others — which include where the LLM moves when its node
 * dies. So: plan to learn the LLM's nodes, place the services, plan again with their
 * reservations. The LLM's nodes stay the same (only nodes it did not use got less room);
 * what changes is which standby nodes still have room for it beside the services.
 */
export function planWithSpeechServices(model: ModelFacts, nodes: PlannerNode[], options: PlanOptions, agentNode: string):
  { plan: LayerPlan; options: PlanOptions; placement: SideServicePlacement } {
  const first = placeSideServices(nodes, planLayers(model, nodes, options), agentNode);
  const reserved = { ...options.reservedBytes };
  for (const service of SIDE_SERVICES) {
    const node = first.nodes[service][0];
    reserved[node] = (reserved[node] ?? 0) + SPEECH_SERVICE_MEMORY_MB[service] * MiB;
  }
  const withServices = { ...options, reservedBytes: reserved };
  const plan = planLayers(model, nodes, withServices);
  return { plan, options: withServices, placement: placeSideServices(nodes, plan, agentNode) };
}

/** The agent package as the voice agent and the speech services run it on every node. */
function agentRuntimeArgs(config: AideConfig): AgentRuntimeArgs {
  return {
    agentDir: AGENT_DIR,
    nodeBinary: NODE_BINARY,
    modelsDir: MODEL_DIR,
    // the stack names a voice model; the agent picks Piper or espeak-ng ("auto" prefers Piper)
    ttsVoice: /espeak/i.test(config.agent.ttsModel) ? "espeak" : "auto",
    sttThreads: 1,
    sttModel: config.agent.sttModel,
  };
}

/** Each side service's job ID (its job registers the Nomad service of the same name). */
const SIDE_SERVICE_JOBS: Array<[SideService, string]> = [["stt", WYOMING_SERVICES.stt], ["tts", WYOMING_SERVICES.tts], ["embeddings", EMBEDDINGS_SERVICE]];

/** The embeddings server is llama.cpp's llama-server, which only the llamacpp-rpc backend
 * installs: with prima.cpp its job is registered stopped. */
const embeddingsStopped = (config: AideConfig): boolean => config.backend === "primacpp";

/** STT, TTS and the embeddings server where the planner placed them; `why` says when one
 * is registered stopped. */
export function sideServiceSpecs(config: AideConfig, placement: SideServicePlacement, facts: Record<string, NodeFacts>): { specs: Record<SideService, NomadJobSpec>; why?: string } {
  // one thread each: a reservation of one core of its own node
  const placed = (s: SideService) => ({ datacenters: [config.nomad.datacenter], nodes: placement.nodes[s], cpuMHz: cpuMHz(facts[placement.nodes[s][0]]) });
  const stopped = embeddingsStopped(config);
  return {
    specs: {
      stt: wyomingServiceJob({ ...agentRuntimeArgs(config), ...placed("stt"), kind: "stt" }),
      tts: wyomingServiceJob({ ...agentRuntimeArgs(config), ...placed("tts"), kind: "tts" }),
      embeddings: embeddingsJob({ ...placed("embeddings"), binDir: `${ENGINE_PREFIX}/bin`, modelPath: `${EMBEDDING_MODEL.dir}/${EMBEDDING_MODEL.name}`, stopped }),
    },
    why: stopped
      ? `${EMBEDDINGS_SERVICE}: registered stopped — the nodes have prima.cpp's llama-server, a late-2024 llama.cpp that profiles the node (needing fio) unless given -lw, ` +
        `and is not checked as an embedder; long-term memory stays off in the cluster with primacpp (switch to llamacpp-rpc to have it)`
      : undefined,
  };
}

/** The specs a layer plan and the service placement give, for the nodes' facts. */
interface PlannedSpecs {
  plan: LayerPlan | undefined;
  llm: NomadJobSpec | undefined;
  bench: NomadJobSpec | undefined;
  placement: SideServicePlacement;
  services: Record<SideService, NomadJobSpec>;
}

/** The layer plan, where the speech services go, and the specs that follow, each decision
 * logged for `pulumi preview`. A plan that cannot be made (the model fits nowhere, its
 * header cannot be read) is a Pulumi error with the reason — `pulumi preview`/`up` fail
 * with it — while the rest of the program still registers, so every problem shows in one run. */
function planSpecs(config: AideConfig, f: Record<string, NodeFacts>, modelFacts?: ModelFacts): PlannedSpecs {
  const agentAt = agentNode(config);
  const hasCamera = config.nodes.some((n) => n.webcam);
  const nodes: PlannerNode[] = config.nodes.map((n) => ({
    name: n.name, address: n.address, memoryBytes: f[n.name].ramMb * MiB, cores: f[n.name].cores, cpuMHz: cpuMHz(f[n.name]),
  }));
  let layers: { plan: LayerPlan; llm: NomadJobSpec; bench: NomadJobSpec } | undefined;
  let placement: SideServicePlacement | undefined;
  try {
    const model = modelFacts ?? modelFactsFor(config);
    const planOptions = {
      backend: config.backend,
      contextSize: LLM_CONTEXT,
      parallel: LLM_PARALLEL,
      headroomBytes: NODE_HEADROOM,
      reservedBytes: { [agentAt.name]: (AGENT_MEMORY_MB + (hasCamera ? VISION_MEMORY_MB : 0)) * MiB },
      avoid: [agentAt.name],
    };
    const planned = planWithSpeechServices(model, nodes, planOptions, agentAt.name);
    const plan = planned.plan;
    placement = planned.placement;
    // The head's plan for each worker that stays gone, made now by the same rules.
    const fallbacks = workerFallbacks(model, nodes, planned.options, plan);
    const bench = benchJobSpec(config, plan, f);
    const ifGone = fallbacks.map((fb) => `if ${fb.missing} stays gone: ${"why" in fb ? fb.why : fb.offloadedLayers === 0 ? "the head serves alone" : `the head re-plans: -ngl ${fb.offloadedLayers} --tensor-split ${fb.tensorSplit.join(",")}`}`);
    pulumi.log.info(`layer plan (${config.backend}):\n  ${[...plan.explanation, ...ifGone, bench.why].join("\n  ")}`);
    layers = { plan, llm: llmJobSpec(config, plan, f, fallbacks), bench: bench.spec };
  } catch (e) {
    pulumi.log.error(`layer plan: ${(e as Error).message}`);
  }
  // Placed even without a layer plan: the agent's memory and speech do not wait for the LLM.
  placement ??= placeSideServices(nodes, undefined, agentAt.name);
  const side = sideServiceSpecs(config, placement, f);
  pulumi.log.info(`service placement:\n  ${[...placement.explanation, ...(side.why ? [side.why] : [])].join("\n  ")}`);
  return { plan: layers?.plan, llm: layers?.llm, bench: layers?.bench, placement, services: side.specs };
}

/** The cluster's jobs: owns the NomadJob resources it registers. */
export class Jobs extends pulumi.ComponentResource {
  readonly llm: NomadJob;
  readonly agent: NomadJob;
  /** STT, TTS and the embeddings server, each a job of its own. */
  readonly services: Record<SideService, NomadJob>;
  /** Stopped with prima.cpp (its build has no llama-bench). */
  readonly bench: NomadJob;
  /** Undefined when no plan could be made (the error is logged). */
  readonly plan: pulumi.Output<LayerPlan | undefined>;
  /** Where the speech services run, and why. */
  readonly servicePlacement: pulumi.Output<SideServicePlacement>;
  /** The job JSON as registered, for `nomad job run -json` by hand. */
  readonly specs: pulumi.Output<Record<JobName, NomadJobSpec | undefined>>;

  constructor(name: string, args: JobsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("aide:infra:Jobs", name, {}, opts);
    const { config } = args;
    const token = args.nomadToken ?? new pulumi.Config().getSecret("nomadToken");
    const connection: pulumi.Input<NomadConnection> = pulumi.output({ address: args.nomadAddress, token })
      .apply((c) => (c.token ? { address: c.address, token: c.token } : { address: c.address }));
    // The jobs once sat at the top of the stack: the alias names them as they were, so a
    // stack made then keeps them (Pulumi would otherwise deregister and register each).
    const jobOpts = { parent: this, dependsOn: args.dependsOn, aliases: [{ parent: pulumi.rootStackResource }] };
    const agentAt = agentNode(config);
    const hasCamera = config.nodes.some((n) => n.webcam);

    const facts = pulumi.all(Object.fromEntries(args.nodes.map((n) => [n.name, n.facts]))) as pulumi.Output<Record<string, NodeFacts>>;
    const planned = facts.apply((f) => planSpecs(config, f, args.modelFacts));

    // Without a plan the spec stays empty and NomadJob's check refuses it, pointing here.
    this.llm = new NomadJob(LLM_JOB_ID, { connection, spec: planned.llm as pulumi.Output<NomadJobSpec> }, jobOpts);
    const agentSpec = voiceAgentJob({
      ...agentRuntimeArgs(config),
      datacenters: [config.nomad.datacenter],
      port: config.agent.port,
      benchmarkMode: config.agent.benchmark,
      vad: { startThreshold: config.agent.vad.threshold, minSilenceMs: config.agent.vad.minSilenceMs, speechPadMs: config.agent.vad.speechPadMs },
      memoryMB: AGENT_MEMORY_MB,
      tls: { dir: AGENT_TLS_DIR, httpPort: config.agent.httpPort },
      ...(hasCamera ? { vision: { source: "camera:/dev/video0", memoryMB: VISION_MEMORY_MB, cpuMHz: 1000 } } : { node: agentAt.name }),
    });
    this.agent = new NomadJob(AGENT_JOB_ID, { connection, spec: agentSpec }, jobOpts);
    this.services = Object.fromEntries(SIDE_SERVICE_JOBS.map(([service, id]) => [service, new NomadJob(id, {
      connection,
      spec: planned.services[service],
      // a stopped job (sideServiceSpecs says when) has nothing to become healthy
      wait: service === "embeddings" && embeddingsStopped(config) ? "registered" : "healthy",
    }, jobOpts)])) as Record<SideService, NomadJob>;
    // Registered only (a batch job that may wait for room), never waited on.
    this.bench = new NomadJob(BENCH_JOB_ID, { connection, spec: planned.bench as pulumi.Output<NomadJobSpec>, wait: "registered" }, jobOpts);
    this.specs = pulumi.output({
      llm: planned.llm, agent: agentSpec, bench: planned.bench, stt: planned.services.stt, tts: planned.services.tts, embeddings: planned.services.embeddings,
    }) as Jobs["specs"];
    this.plan = planned.plan;
    this.servicePlacement = planned.placement;
    this.registerOutputs({ plan: this.plan, servicePlacement: this.servicePlacement });
  }
}
