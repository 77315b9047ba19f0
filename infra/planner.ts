// Decides where the model's layers go, from the nodes' RAM and speed and the model's
// GGUF metadata (infra/model-facts.ts reads it). Every decision comes with a sentence that `pulumi preview` prints.
//
// The rules, for one conversation at a time on CPU nodes:
// - One node when the model (weights + KV cache + buffers) fits in a node's free RAM
//   after headroom — the fastest such node: a split runs its layers one node after the
//   other and crosses the network on every token, and the legacy-cluster lab measured
//   it no faster for what the user waits for (LAB_SPLIT_VS_ONE_NODE).
// - Otherwise as few nodes as hold the model, fastest first; a node slower than
//   `minSpeedFraction` of the fastest joins only if the model does not fit without it.
// - Within the chosen nodes, layers go in proportion to speed (each node then takes
//   about the same time per token, so none idles the pipeline), capped by what each
//   node can hold.
import type { WorkerFallback } from "../nomad-jobs";

const GiB = 1024 ** 3;
const gib = (b: number) => `${(b / GiB).toFixed(2)} GiB`;

/**
 * What `npm run bench:cluster` (README, "The legacy-cluster lab") measured on emulated
 * Core 2 Duo nodes with the Qwen2.5-1.5B-cost model, each pair in one run: the model alone
 * on one node (jobs-today) against a two-node llama.cpp RPC split (rpc-split), and against
 * every layer on RPC workers with prompt evaluation pipelined in micro-batches
 * (rpc-pipeline). Neither is faster: the layers run in series, so a token still takes the
 * sum of both nodes' parts, plus a network hop. Why the planner splits only a model that
 * fits nowhere alone.
 */
export const LAB_SPLIT_VS_ONE_NODE = {
  voiceToVoiceP50S: { split: 6.79, oneNode: 5.88 },
  pipelined: { voiceToVoiceP50S: 7.75, oneNode: 6.51 },
  splitGenerationTokS: 1.94,
} as const;

const LAB_SAYS =
  `the legacy-cluster lab measured two-node splits slower on Core 2 nodes (voice-to-voice p50 ${LAB_SPLIT_VS_ONE_NODE.voiceToVoiceP50S.split} s split ` +
  `vs ${LAB_SPLIT_VS_ONE_NODE.voiceToVoiceP50S.oneNode} s on one node, ${LAB_SPLIT_VS_ONE_NODE.splitGenerationTokS} tok/s generating split; ` +
  `${LAB_SPLIT_VS_ONE_NODE.pipelined.voiceToVoiceP50S} s vs ${LAB_SPLIT_VS_ONE_NODE.pipelined.oneNode} s with prompt evaluation pipelined over both)`;

/** A node as the planner weighs it: its RAM and speed (infra/jobs.ts derives it from the
 * node's NodeFacts, the lab from its emulated desktops). */
export interface PlannerNode {
  name: string;
  address: string;
  /** Total RAM. */
  memoryBytes: number;
  /** RAM available when the facts were gathered (MemAvailable), when known. */
  availableMemoryBytes?: number;
  cores: number;
  cpuMHz?: number;
  /** A quick measured memory bandwidth, when available: CPU token generation is bound by it. */
  memoryBandwidthGBps?: number;
}

export interface ModelFacts {
  name: string;
  architecture: string;
  layerCount: number;
  /** Bytes of each repeating block (blk.N.*), in order. */
  layerBytes: number[];
  /** Everything else the head keeps: token embeddings (and, when not counted apart, the rest). */
  otherBytes: number;
  /** The output head (output.weight + output_norm). llama.cpp offloads it with the layers,
   * to the last RPC device; prima.cpp's rank 0 computes it. */
  outputBytes?: number;
  /** KV cache per token across all layers (f16 K and V). */
  kvBytesPerToken: number;
}

export interface PlanOptions {
  backend: "llamacpp-rpc" | "primacpp";
  /** Tokens of context per slot, and slots. */
  contextSize: number;
  parallel: number;
  /** Kept free on every node for the OS, Nomad and page cache (default 1 GiB). */
  headroomBytes?: number;
  /** RAM other Aide tasks take on a node (e.g. the voice agent's STT/TTS). */
  reservedBytes?: Record<string, number>;
  /** The K/V cache's type; by default the planner chooses (see planLayers). */
  kvCacheType?: KvCacheType;
  /** Nodes used for the LLM only when it fits nowhere else (the agent's node: its cores go to speech). */
  avoid?: string[];
  /** Nodes slower than this fraction of the fastest are left out unless needed (default 0.3). */
  minSpeedFraction?: number;
}

export interface LayerShare {
  node: string;
  address: string;
  layers: number;
  /** RAM this node's part needs (weights + KV + buffers). */
  memoryBytes: number;
  /** RAM the node has for it: available − headroom − other Aide tasks (its budget). */
  freeBytes: number;
  threads: number;
}

export interface LayerPlan {
  mode: "single" | "split";
  /** The node that serves the API (llama-server) and holds the non-layer tensors. */
  head: string;
  /** Shares in the backend's order: llama.cpp head first then RPC workers; prima.cpp ring order. */
  shares: LayerShare[];
  /**
   * Single mode: the other nodes that could serve the model alone (each holds the model
   * file and has the room), most suitable first — where it goes when the head's desktop
   * dies. Absent or empty: nowhere.
   */
  standby?: Array<{ node: string; freeBytes: number }>;
  /** The K/V cache's type the RAM was counted for: the server must be given it. */
  kvCacheType: KvCacheType;
  /** Every decision, as sentences for `pulumi preview`. */
  explanation: string[];
}

/** Compute buffers llama.cpp allocates beside the weights (measured order of magnitude for
 * 7B-class models at 4k context; small models need far less). */
const HEAD_BUFFER_BYTES = 512 * 1024 ** 2;
const WORKER_BUFFER_BYTES = 256 * 1024 ** 2;

export class ModelDoesNotFitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelDoesNotFitError";
  }
}

const positive = (v: number | undefined): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;

/**
 * Each node's speed. A node whose facts give no usable speed (0 or NaN cores or clock)
 * counts as the slowest node that has one, so it never skews the split (NaN layers).
 */
function speedOf(nodes: PlannerNode[]): { speed: (n: PlannerNode) => number; basis: string; unknown: string[] } {
  if (nodes.every((n) => positive(n.memoryBandwidthGBps))) {
    return { speed: (n) => n.memoryBandwidthGBps!, basis: "measured memory bandwidth (GB/s)", unknown: [] };
  }
  const raw = (n: PlannerNode) => n.cores * (n.cpuMHz ?? 2000) / 1000;
  const known = nodes.map(raw).filter(positive);
  const slowest = known.length ? Math.min(...known) : 1;
  const unknown = nodes.filter((n) => !positive(raw(n))).map((n) => `${n.name} (cores ${n.cores}, ${n.cpuMHz ?? "?"} MHz)`);
  return { speed: (n) => (positive(raw(n)) ? raw(n) : slowest), basis: "cores × GHz (no bandwidth measured on every node)", unknown };
}

/** RAM a node has for Aide before headroom: what was available, else its total; 0 when neither is known. */
function knownMemory(n: PlannerNode): number {
  return [n.availableMemoryBytes, n.memoryBytes].find(positive) ?? 0;
}

export type KvCacheType = "f16" | "f32";

/**
 * Where the layers go, and the K/V cache's type. prima.cpp keeps llama.cpp's f16. For
 * llama.cpp f32 is faster on every node (the core2/sse2 builds have no F16C, so f16 is
 * converted value by value: 1.14-1.18x slower prompt evaluation, bench:llm -- --only
 * kv-cache) but takes twice the RAM: it is chosen unless that costs a node (a split adds a
 * hop per token) or a standby node (where the LLM goes when its desktop dies).
 */
export function planLayers(model: ModelFacts, nodes: PlannerNode[], options: PlanOptions): LayerPlan {
  if (options.kvCacheType || options.backend !== "llamacpp-rpc") return planWithKv(model, nodes, options, options.kvCacheType ?? "f16");
  const f16 = planWithKv(model, nodes, options, "f16"); // when even this does not fit, its numbers say what to change
  let f32: LayerPlan | undefined;
  try {
    f32 = planWithKv(model, nodes, options, "f32");
  } catch (error) {
    if (!(error instanceof ModelDoesNotFitError)) throw error;
  }
  const standby = (p: LayerPlan | undefined) => p?.standby?.length ?? 0;
  if (f32 && f32.shares.length <= f16.shares.length && standby(f32) >= standby(f16)) {
    return { ...f32, explanation: [...f32.explanation, `K/V cache in f32, not llama.cpp's f16: these builds have no F16C, so f16 evaluates prompts 1.14-1.18x slower; f32 takes twice its RAM, and the plan has it`] };
  }
  const cost = !f32 ? "would not fit" : f32.shares.length > f16.shares.length ? `would need ${f32.shares.length} nodes instead of ${f16.shares.length}` : `would leave ${standby(f32) ? `only ${f32.standby!.map((n) => n.node).join(", ")}` : "no node"} to take over when ${f16.head} goes down`;
  return { ...f16, explanation: [...f16.explanation, `K/V cache in f16: in f32 (1.14-1.18x faster prompt evaluation on these builds, twice the RAM) the model ${cost}`] };
}

/** ModelFacts.kvBytesPerToken counts f16; f32 takes twice that. */
const KV_FACTOR: Record<KvCacheType, number> = { f16: 1, f32: 2 };

function planWithKv(model: ModelFacts, nodes: PlannerNode[], options: PlanOptions, kvCacheType: KvCacheType): LayerPlan {
  if (!nodes.length) throw new Error("planner: the stack has no nodes");
  if (model.layerCount < 1 || model.layerBytes.length !== model.layerCount) {
    throw new Error(`planner: model ${model.name} reports ${model.layerCount} layers but ${model.layerBytes.length} layer sizes — is the GGUF complete?`);
  }
  const headroom = options.headroomBytes ?? GiB;
  const minFraction = options.minSpeedFraction ?? 0.3;
  const avoid = new Set(options.avoid ?? []);
  const tokens = options.contextSize * options.parallel;
  const kvPerLayer = (model.kvBytesPerToken * KV_FACTOR[kvCacheType] / model.layerCount) * tokens;
  const outputBytes = model.outputBytes ?? 0;
  const layerWeights = model.layerBytes.reduce((a, b) => a + b, 0);
  const weights = layerWeights + model.otherBytes + outputBytes;
  const kv = kvPerLayer * model.layerCount;
  const perLayer = layerWeights / model.layerCount + kvPerLayer;
  const needSingle = weights + kv + HEAD_BUFFER_BYTES;
  const { speed, basis, unknown } = speedOf(nodes);
  const fastest = Math.max(...nodes.map(speed));
  const free = (n: PlannerNode) => Math.max(0, knownMemory(n) - headroom - (options.reservedBytes?.[n.name] ?? 0));
  const cores = (n: PlannerNode) => (Number.isInteger(n.cores) && n.cores > 0 ? n.cores : 1);
  const threads = (n: PlannerNode) => (avoid.has(n.name) && cores(n) > 1 ? cores(n) - 1 : cores(n));
  const stackOrder = new Map(nodes.map((n, i) => [n.name, i]));
  // fast first; the avoided nodes last; between equals the one with more room, then the stack's order
  const ranked = [...nodes].sort((a, b) =>
    Number(avoid.has(a.name)) - Number(avoid.has(b.name)) || speed(b) - speed(a) || free(b) - free(a) ||
    stackOrder.get(a.name)! - stackOrder.get(b.name)!);

  const explanation = [
    `model ${model.name}: ${model.layerCount} layers, ${gib(weights)} of weights + ${gib(kv)} KV cache (${kvCacheType}) for ${tokens} tokens (${options.parallel} slot(s) × ${options.contextSize}) + ${gib(HEAD_BUFFER_BYTES)} buffers = ${gib(needSingle)}`,
    `node speed from ${basis}; free RAM = available − ${gib(headroom)} headroom − other Aide tasks: ` +
      nodes.map((n) => `${n.name} ${gib(free(n))} @ ${speed(n).toFixed(1)}`).join(", "),
  ];
  if (unknown.length) explanation.push(`speed unknown for ${unknown.join(", ")}: counted as the slowest node's`);
  const memoryUnknown = nodes.filter((n) => knownMemory(n) === 0).map((n) => n.name);
  if (memoryUnknown.length) explanation.push(`memory unknown for ${memoryUnknown.join(", ")}: no layers planned there (its facts step reports RAM)`);

  const single = ranked.find((n) => free(n) >= needSingle);
  if (single) {
    // faster nodes passed over for want of room (the agent's node is passed over by choice)
    const faster = ranked.filter((n) => speed(n) > speed(single) && !avoid.has(n.name) && free(n) < needSingle);
    explanation.push(`runs on ${single.name} alone: it has ${gib(free(single))} free for the ${gib(needSingle)} needed` +
      (avoid.has(single.name) ? ` (${single.name} also runs the voice agent; no other node has room)` : `, and it is the fastest node with that room (${speed(single).toFixed(1)})`) +
      (faster.length ? ` — ${faster.map((n) => `${n.name} (${speed(n).toFixed(1)}, ${gib(free(n))} free)`).join(", ")} ${faster.length === 1 ? "is" : "are"} faster but cannot hold it alone` : "") +
      `; one node, not a split, because a split runs its layers in series over RPC and adds a network hop per token — ${LAB_SAYS}`);
    // The agent's node only when no other has room: the LLM would take its cores from speech.
    const roomy = ranked.filter((n) => n !== single && free(n) >= needSingle);
    const standby = roomy.some((n) => !avoid.has(n.name)) ? roomy.filter((n) => !avoid.has(n.name)) : roomy;
    explanation.push(standby.length
      ? `if ${single.name} goes down, Nomad moves the LLM to ${standby.map((n) => n.name).join(" or ")} (every node holds the model file; ${standby.length === 1 ? "it has" : "they have"} the room)`
      : `no other node has ${gib(needSingle)} free: if ${single.name} goes down the assistant is mute until it is back — a smaller model or a node with more RAM gives the LLM somewhere to go`);
    return {
      mode: "single",
      head: single.name,
      standby: standby.map((n) => ({ node: n.name, freeBytes: free(n) })),
      shares: [{ node: single.name, address: single.address, layers: model.layerCount, memoryBytes: needSingle, freeBytes: free(single), threads: threads(single) }],
      kvCacheType,
      explanation,
    };
  }

  // How many layers each node can hold; the head also holds the non-layer tensors.
  const headOf = (chosen: PlannerNode[]) =>
    options.backend === "primacpp" ? [...chosen].sort((a, b) => stackOrder.get(a.name)! - stackOrder.get(b.name)!)[0] : chosen[0];
  // What a node holds besides its layers: the head its embeddings (and, for prima.cpp or
  // alone, the output head); llama.cpp's last RPC worker the output head.
  const fixedBytes = (n: PlannerNode, chosen: PlannerNode[]) => {
    const head = headOf(chosen);
    if (n === head) return model.otherBytes + HEAD_BUFFER_BYTES + (options.backend === "primacpp" || chosen.length === 1 ? outputBytes : 0);
    const lastWorker = options.backend === "llamacpp-rpc" && n === chosen[chosen.length - 1];
    return WORKER_BUFFER_BYTES + (lastWorker ? outputBytes : 0);
  };
  const capacity = (n: PlannerNode, chosen: PlannerNode[]) => Math.max(0, Math.floor((free(n) - fixedBytes(n, chosen)) / perLayer));
  const holdable = (chosen: PlannerNode[]) => chosen.reduce((s, c) => s + capacity(c, chosen), 0);
  const chosen: PlannerNode[] = [];
  const dropped: string[] = [];
  /** Nodes that cannot hold one layer beside what their place needs (as head: the embeddings). */
  const noRoom = new Map<string, string>();
  // Every chosen node holds at least one layer: a node without room must not get one
  // (nor become the head) just because it is fast.
  const join = (n: PlannerNode): boolean => {
    const next = [...chosen, n];
    const short = next.find((c) => capacity(c, next) < 1);
    if (short) {
      if (short === n) noRoom.set(n.name, `${gib(free(n))} free, and one layer there needs ${gib(perLayer + fixedBytes(n, next))}`);
      return false;
    }
    noRoom.delete(n.name);
    chosen.push(n);
    return true;
  };
  let fits = false;
  for (const n of ranked) {
    if (speed(n) < minFraction * fastest) { dropped.push(n.name); continue; }
    if (join(n) && holdable(chosen) >= model.layerCount) { fits = true; break; }
  }
  if (!fits) {
    // the slow nodes join only because the model needs their RAM
    for (const name of dropped.splice(0)) {
      if (join(nodes.find((n) => n.name === name)!) && holdable(chosen) >= model.layerCount) { fits = true; break; }
    }
  }
  if (!fits) {
    const all = holdable(ranked);
    // The node to add may become the head (the embeddings and buffers) or the last RPC
    // worker (the output head): ask for the larger, rounded up, so it is really enough.
    const newNodeFixed = Math.max(
      model.otherBytes + HEAD_BUFFER_BYTES + (options.backend === "primacpp" ? outputBytes : 0),
      WORKER_BUFFER_BYTES + (options.backend === "llamacpp-rpc" ? outputBytes : 0),
    );
    const addNode = Math.ceil((((model.layerCount - all) * perLayer + newNodeFixed + headroom) / GiB) * 100) / 100;
    throw new ModelDoesNotFitError(
      `model ${model.name} does not fit in the cluster's RAM: it needs ${gib(needSingle)} (${model.layerCount} layers of ${gib(perLayer)} each with their KV cache, ` +
      `plus ${gib(model.otherBytes + outputBytes)} embeddings/output), and the ${nodes.length} node(s) can hold ${all} of ${model.layerCount} layers ` +
      `(free after ${gib(headroom)} headroom: ${nodes.map((n) => `${n.name} ${gib(free(n))}`).join(", ")}). ` +
      `Fix: choose a smaller model or quantization (pulumi config set --path model.url …), a shorter context, or add a node with ≥ ${addNode.toFixed(2)} GiB of RAM.` +
      (options.backend === "primacpp" ? " (prima.cpp could page weights from disk, but at these nodes' disk speeds that costs seconds per token, so Aide plans within RAM.)" : ""),
    );
  }
  const head = headOf(chosen);
  const layers = splitLayers(model.layerCount, chosen.map((n) => ({ weight: speed(n), cap: capacity(n, chosen) })));
  for (const n of ranked) {
    if (chosen.includes(n)) continue;
    const full = noRoom.get(n.name);
    explanation.push(full ? `leaves out ${n.name}: no room for a layer (${full})` : speed(n) < minFraction * fastest
      ? `leaves out ${n.name}: ${speed(n).toFixed(1)} is below ${Math.round(minFraction * 100)}% of the fastest (${fastest.toFixed(1)}), and the model fits without it`
      : `leaves out ${n.name}: the nodes chosen before it (faster, or as fast with more RAM) already hold the model, and each extra node adds a hop per token`);
  }
  const order = options.backend === "primacpp"
    ? [...chosen].sort((a, b) => stackOrder.get(a.name)! - stackOrder.get(b.name)!)
    : chosen;
  const shares = order.map((n) => {
    const l = layers[chosen.indexOf(n)];
    return { node: n.name, address: n.address, layers: l, memoryBytes: Math.ceil(l * perLayer + fixedBytes(n, chosen)), freeBytes: free(n), threads: threads(n) };
  });
  explanation.push(
    `splits ${model.layerCount} layers over ${chosen.length} nodes because no single node has ${gib(needSingle)} free (a split is the last resort: ${LAB_SAYS}): ` +
    shares.map((s) => `${s.node} ${s.layers}`).join(", ") +
    ` (in proportion to speed, capped by RAM; ${head.name} serves the API and holds the embeddings/output)`,
  );
  return { mode: "split", head: head.name, shares, kvCacheType, explanation };
}

/** Integer layers proportional to weight, each ≥ 1 and ≤ its cap; the caps together must cover `total`. */
function splitLayers(total: number, nodes: Array<{ weight: number; cap: number }>): number[] {
  const out = nodes.map(() => 0);
  let open = nodes.map((_, i) => i).filter((i) => nodes[i].cap > 0);
  let left = total;
  // water-filling: give each open node its proportional part; nodes that hit their cap close
  while (left > 0 && open.length) {
    const w = open.reduce((s, i) => s + nodes[i].weight, 0);
    const ideal = open.map((i) => (left * nodes[i].weight) / w);
    const capped = open.filter((i, k) => out[i] + ideal[k] >= nodes[i].cap);
    if (capped.length) {
      for (const i of capped) { left -= nodes[i].cap - out[i]; out[i] = nodes[i].cap; }
      open = open.filter((i) => !capped.includes(i));
      continue;
    }
    // largest remainder rounding
    const floors = ideal.map(Math.floor);
    let rest = left - floors.reduce((a, b) => a + b, 0);
    const order = ideal.map((v, k) => [v - Math.floor(v), k] as const).sort((a, b) => b[0] - a[0]);
    for (const [, k] of order) { if (rest <= 0) break; floors[k]++; rest--; }
    open.forEach((i, k) => { out[i] += floors[k]; });
    left = 0;
  }
  // a chosen node with 0 layers would exit at start (prima: "No layer is assigned to me"):
  // take one from the largest share
  for (let i = 0; i < out.length; i++) {
    if (out[i] === 0 && nodes[i].cap >= 1) {
      const donor = out.indexOf(Math.max(...out));
      if (out[donor] > 1) { out[donor]--; out[i] = 1; }
    }
  }
  return out;
}

/** llama.cpp's arguments for a plan: the head keeps the first layers on its CPU; `-ngl`
 * sends the rest to the RPC workers, split by `--tensor-split`. llama.cpp counts the
 * output head as one more layer ("offloaded N+1/N+1 layers"), offloaded with the last
 * ones: so -ngl is the workers' layers + 1, and that extra layer lands on the last worker. */
export function llamaCppSplit(plan: LayerPlan): { head: LayerShare; workers: LayerShare[]; offloadedLayers: number; tensorSplit: number[] } {
  const head = plan.shares.find((s) => s.node === plan.head)!;
  const workers = plan.shares.filter((s) => s.node !== plan.head);
  if (!workers.length) return { head, workers, offloadedLayers: 0, tensorSplit: [] };
  return {
    head,
    workers,
    offloadedLayers: workers.reduce((s, w) => s + w.layers, 0) + 1,
    tensorSplit: workers.map((w, i) => w.layers + (i === workers.length - 1 ? 1 : 0)),
  };
}

/**
 * For each worker of a llama.cpp split: the plan over the head and the other workers
 * without it, by the planner's own rules — usable when the head stays the head and every
 * other worker keeps its place (its ggml-rpc-server is the one already running) — or why
 * the model cannot run without it. Computed when the plan is, run by the head as it starts.
 */
export function workerFallbacks(model: ModelFacts, nodes: PlannerNode[], options: PlanOptions, plan: LayerPlan): WorkerFallback[] {
  if (plan.mode !== "split" || options.backend !== "llamacpp-rpc") return [];
  const { workers } = llamaCppSplit(plan);
  return workers.map((gone): WorkerFallback => {
    const rest = plan.shares.filter((s) => s !== gone).map((s) => nodes.find((n) => n.name === s.node)!);
    const needs = `${gone.node} held ${gone.layers} layers, ${gib(gone.memoryBytes)}`;
    let replan: LayerPlan;
    try {
      replan = planLayers(model, rest, { ...options, kvCacheType: plan.kvCacheType }); // the head's flags stay
    } catch (error) {
      const more = /add a node with ≥ [\d.]+ GiB of RAM/.exec((error as Error).message)?.[0];
      return { missing: gone.node, why: `${needs}, and the model does not fit on the rest: bring ${gone.node} back${more ? `, or ${more} and run pulumi up` : ""}` };
    }
    const stayed = workers.filter((w) => w !== gone).map((w) => w.node);
    const split = llamaCppSplit(replan);
    if (replan.head !== plan.head || split.workers.map((w) => w.node).join() !== stayed.join()) {
      if (replan.mode === "single" && replan.head === plan.head) return { missing: gone.node, offloadedLayers: 0, tensorSplit: [] };
      return { missing: gone.node, why: `${needs}; without it the planner would place the model differently (${replan.shares.map((x) => `${x.node} ${x.layers}`).join(", ")}): run pulumi up to redeploy` };
    }
    return { missing: gone.node, offloadedLayers: split.offloadedLayers, tensorSplit: split.tensorSplit };
  });
}

/** The stages of a turn that run as services of their own beside the LLM (nomad-jobs/speech-services.ts). */
export const SIDE_SERVICES = ["stt", "tts", "embeddings"] as const;
export type SideService = (typeof SIDE_SERVICES)[number];
const SIDE_SERVICE_NAMES: Record<SideService, string> = { stt: "STT", tts: "TTS", embeddings: "embeddings" };

export interface SideServicePlacement {
  /** Per service: the nodes it may run on, its own first (Nomad keeps it there while it is up). */
  nodes: Record<SideService, string[]>;
  /** The decision, as sentences for `pulumi preview`. */
  explanation: string[];
}

/**
 * Where STT, TTS and the embeddings server run: away from the LLM. On these CPUs the LLM
 * keeps every core of its nodes busy for most of a turn (prompt evaluation is
 * compute-bound without AVX, then generation), so a speech stage on the same node slows
 * both, while the other desktops sit idle. So, in order:
 * - nodes that hold no layers and do not run the agent, fastest first (idle cores). The
 *   services take them in turn (STT, TTS, embeddings); with one such node all three share
 *   it, as they work at different moments of a turn (STT while the user speaks, TTS while
 *   the bot does, the embeddings for a recall or a save), and each then has both cores
 *   rather than what the agent's vision and VAD leave of them;
 * - only when there is none, the agent's node, if it holds no layers (its speech ran
 *   there in-process before);
 * - only when every node holds layers, the agent's node anyway: the planner leaves one
 *   of its cores to speech (`avoid`), never all of an LLM node's.
 * Each may move to the other idle nodes and the agent's node (when it holds no layers)
 * when its own goes down. `plan` undefined (no layer plan could be made): no node counts
 * as the LLM's.
 */
export function placeSideServices(nodes: PlannerNode[], plan: LayerPlan | undefined, agentNode: string): SideServicePlacement {
  if (!nodes.some((n) => n.name === agentNode)) throw new Error(`placing the speech services: the agent's node ${agentNode} is not one of the stack's nodes`);
  const llm = new Set(plan?.shares.map((s) => s.node) ?? []);
  const { speed } = speedOf(nodes);
  const idle = nodes.filter((n) => !llm.has(n.name) && n.name !== agentNode).sort((a, b) => speed(b) - speed(a)).map((n) => n.name);
  const homes = idle.length ? idle : [agentNode];
  const pool = [...idle, ...(llm.has(agentNode) && idle.length ? [] : [agentNode])];
  const placed = Object.fromEntries(SIDE_SERVICES.map((service, i) => {
    const own = homes[i % homes.length];
    return [service, [own, ...pool.filter((n) => n !== own)]];
  })) as Record<SideService, string[]>;

  const where = SIDE_SERVICES.map((s) => `${SIDE_SERVICE_NAMES[s]} on ${placed[s][0]}${placed[s][0] === agentNode ? " (the agent's node)" : ""}`).join(", ");
  const why = !plan
    ? "no layer plan, so no node is known to run the LLM"
    : `away from the LLM on ${[...llm].join(", ")}, which keeps every core of its node${llm.size === 1 ? "" : "s"} busy through a turn (a speech stage beside it would slow both)`;
  const offAgent = idle.length && !llm.has(agentNode) && !SIDE_SERVICES.some((s) => placed[s][0] === agentNode)
    ? `, and off the agent's node ${agentNode} (its vision and VAD run all the time)${idle.length < SIDE_SERVICES.length ? `: they work at different moments of a turn, so they share ${idle.length === 1 ? idle[0] : idle.join(" and ")}` : ""}`
    : "";
  const explanation = [pool.length === 1 && llm.has(agentNode)
    ? `speech services: ${where} — every node holds LLM layers, and the planner leaves one of ${agentNode}'s cores to speech`
    : `speech services: ${where} — ${why}${offAgent}` + (pool.length > 1 ? `; each may move to ${pool.join(" or ")} when its node goes down` : "")];
  const standby = (plan?.standby ?? []).map((s) => s.node).filter((n) => SIDE_SERVICES.some((s) => placed[s][0] === n));
  if (standby.length) explanation.push(`${standby.join(", ")} ${standby.length === 1 ? "is" : "are"} also where the LLM goes if ${plan!.head} goes down: the speech services there then share its cores until it is back`);
  return { nodes: placed, explanation };
}

/** prima.cpp's `-lw`: one layer count per rank, in ring order. */
export function primaLayerWindow(plan: LayerPlan): number[] {
  return plan.shares.map((s) => s.layers);
}
