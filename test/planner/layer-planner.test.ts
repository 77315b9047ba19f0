// Where the model's layers go, on the seed's cluster (3 × 8 GB Core 2) and on the
// prima.cpp paper's 4-device home cluster.
import { ChildProcess, spawn } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readModelFacts } from "../../infra/model-facts";
import {
  llamaCppSplit, ModelDoesNotFitError, ModelFacts, PlannerNode, placeSideServices, planLayers, primaLayerWindow, workerFallbacks,
} from "../../infra/planner";
import { ensureTinyChatModel } from "../../scripts/models/tiny";

const GiB = 1024 ** 3;
const GB = 1e9;

/** A model shaped like a real GGUF: `fileBytes` split into uniform blocks plus embeddings/output. */
function model(name: string, fileBytes: number, layers: number, kvHeads: number, headDim: number, otherFraction: number): ModelFacts {
  const other = fileBytes * otherFraction;
  return {
    name, architecture: "llama", layerCount: layers,
    layerBytes: Array(layers).fill((fileBytes - other) / layers),
    otherBytes: other,
    kvBytesPerToken: layers * 2 * 2 * kvHeads * headDim, // K and V, f16
  };
}

// Seed §1: three Core 2 Duo desktops (2 cores, ~3 GHz, 8 GB; ~7.3 GiB available).
const SEED: PlannerNode[] = [1, 2, 3].map((i) => ({
  name: `aide-0${i}`, address: `192.168.1.10${i}`, memoryBytes: 8 * GB, availableMemoryBytes: 7.3 * GiB, cores: 2, cpuMHz: 3000,
}));

// prima.cpp's paper / README, "Table 1: Home cluster configurations" (D1–D4): RAM is the
// table's "RAM (available)". The table gives no clock or bandwidth, so speed here is
// cores × the planner's default 2 GHz, and GPUs are ignored (Aide's nodes are CPU-only).
const PAPER: PlannerNode[] = [
  { name: "d1-mac-m1", address: "10.0.0.1", memoryBytes: 8 * GiB, availableMemoryBytes: 2.4 * GiB, cores: 8 },
  { name: "d2-laptop-i9", address: "10.0.0.2", memoryBytes: 16 * GiB, availableMemoryBytes: 4.1 * GiB, cores: 8 },
  { name: "d3-desktop-i9", address: "10.0.0.3", memoryBytes: 32 * GiB, availableMemoryBytes: 9.7 * GiB, cores: 16 },
  { name: "d4-mate40pro", address: "10.0.0.4", memoryBytes: 8 * GiB, availableMemoryBytes: 1.9 * GiB, cores: 8 },
];
const PAPER_OPTS = { headroomBytes: 0.25 * GiB }; // the table's figures are already what is free

// Sizes of common Q4_K_M GGUFs (layers, KV heads × head dim from their configs).
const QWEN25_7B = model("qwen2.5-7b-q4_k_m", 4.68 * GB, 28, 4, 128, 0.12);
const LLAMA2_13B = model("llama-2-13b-q4_k_m", 7.87 * GB, 40, 40, 128, 0.04);
const LLAMA3_8B = model("llama-3-8b-q4_k_m", 4.92 * GB, 32, 8, 128, 0.1);
const QWEN25_14B = model("qwen2.5-14b-q4_k_m", 8.99 * GB, 48, 8, 128, 0.08);
const LLAMA3_70B = model("llama-3-70b-q4_k_m", 42.5 * GB, 80, 8, 128, 0.03);

function freeOf(n: PlannerNode, headroom = GiB): number {
  return (n.availableMemoryBytes ?? n.memoryBytes) - headroom;
}

describe("layer planner on the seed's 3-node cluster", () => {
  const opts = { backend: "llamacpp-rpc" as const, contextSize: 4096, parallel: 1, avoid: ["aide-01"], reservedBytes: { "aide-01": 1.5 * GiB } };

  it("runs a 7B model on one node, not the agent's, because every RPC hop costs time per token", () => {
    const plan = planLayers(QWEN25_7B, SEED, opts);
    expect(plan.mode).toBe("single");
    expect(plan.head).toBe("aide-02");
    expect(plan.shares).toEqual([expect.objectContaining({ node: "aide-02", layers: 28, threads: 2 })]);
    expect(plan.explanation.join("\n")).toMatch(/runs on aide-02 alone: it has 6\.30 GiB free for the 5\.30 GiB needed, and it is the fastest node with that room \(6\.0\)/);
    expect(llamaCppSplit(plan)).toMatchObject({ offloadedLayers: 0, tensorSplit: [], workers: [] });
  });

  it("names where the LLM goes when its desktop dies — never the agent's node while another has room — or says there is nowhere", () => {
    const plan = planLayers(QWEN25_7B, SEED, opts);
    expect(plan.standby).toEqual([{ node: "aide-03", freeBytes: freeOf(SEED[2]) }]);
    expect(plan.explanation).toContain("if aide-02 goes down, Nomad moves the LLM to aide-03 (every node holds the model file; it has the room)");
    const tight = [SEED[0], SEED[1], { ...SEED[2], availableMemoryBytes: 3 * GiB }];
    const alone = planLayers(QWEN25_7B, tight, opts);
    expect(alone.standby).toEqual([]);
    expect(alone.explanation.join("\n")).toMatch(/no other node has 5\.30 GiB free: if aide-02 goes down the assistant is mute until it is back/);
  });

  it("splits a 13B model with a 4k context across nodes, within each node's RAM", () => {
    const plan = planLayers(LLAMA2_13B, SEED, opts);
    expect(plan.mode).toBe("split");
    expect(plan.shares.reduce((s, x) => s + x.layers, 0)).toBe(40);
    for (const s of plan.shares) {
      const node = SEED.find((n) => n.name === s.node)!;
      expect(s.memoryBytes).toBeLessThanOrEqual(freeOf(node) - (s.node === "aide-01" ? 1.5 * GiB : 0));
      expect(s.layers).toBeGreaterThan(0);
    }
    // the agent's node is used last, and only because the model needs it
    expect(plan.shares.map((s) => s.node)).toEqual(["aide-02", "aide-03"]);
    const split = llamaCppSplit(plan);
    expect(split.head.node).toBe("aide-02");
    // llama.cpp counts the output head as one more offloaded layer, placed on the last worker
    expect(split.offloadedLayers).toBe(40 - split.head.layers + 1);
    expect(split.tensorSplit).toEqual(split.workers.map((w, i) => w.layers + (i === split.workers.length - 1 ? 1 : 0)));
    expect(plan.explanation.join("\n")).toContain("splits 40 layers over 2 nodes because no single node has");
  });

  it("plans for each worker that stays gone: over the rest when the model fits, else says what the missing node held", () => {
    const plan = planLayers(LLAMA2_13B, SEED, opts);
    const [gone] = workerFallbacks(LLAMA2_13B, SEED, opts, plan);
    expect(gone).toMatchObject({ missing: "aide-03" });
    expect("why" in gone && gone.why).toMatch(/^aide-03 held \d+ layers, [\d.]+ GiB, and the model does not fit on the rest: bring aide-03 back, or add a node with ≥ [\d.]+ GiB of RAM and run pulumi up$/);
    // A plan with room to spare (made when aide-02 had less RAM free): without aide-01 the rest still holds it.
    const slack = planLayers(LLAMA2_13B, SEED, { ...opts, avoid: [] });
    const roomy = { ...slack, shares: [...slack.shares, { ...slack.shares[1], node: "aide-01", address: "192.168.1.101", layers: 1 }] };
    roomy.shares[0] = { ...roomy.shares[0], layers: roomy.shares[0].layers - 1 };
    const fallbacks = workerFallbacks(LLAMA2_13B, SEED, { ...opts, avoid: [] }, roomy);
    const without01 = fallbacks.find((f) => f.missing === "aide-01")!;
    const again = llamaCppSplit(slack);
    expect(without01).toEqual({ missing: "aide-01", offloadedLayers: again.offloadedLayers, tensorSplit: again.tensorSplit });
  });

  it("gives the same split to prima.cpp in the stack's ring order, as its -lw", () => {
    const plan = planLayers(LLAMA2_13B, SEED, { ...opts, backend: "primacpp", contextSize: 8192 });
    expect(plan.shares.map((s) => s.node)).toEqual(["aide-01", "aide-02", "aide-03"]);
    expect(plan.head).toBe("aide-01"); // rank 0 is the first node of the stack
    const lw = primaLayerWindow(plan);
    expect(lw.reduce((a, b) => a + b, 0)).toBe(40);
    expect(lw.every((l) => l >= 1)).toBe(true);
  });

  it("refuses a 70B model with the numbers and what to change", () => {
    let err: unknown;
    try { planLayers(LLAMA3_70B, SEED, opts); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ModelDoesNotFitError);
    expect((err as Error).message).toMatch(
      /^model llama-3-70b-q4_k_m does not fit in the cluster's RAM: it needs 41\.33 GiB \(80 layers of 0\.50 GiB each.*the 3 node\(s\) can hold 30 of 80 layers \(free after 1\.00 GiB headroom: aide-01 4\.80 GiB, aide-02 6\.30 GiB, aide-03 6\.30 GiB\)\. Fix: choose a smaller model or quantization/,
    );
  });

  // The 7B's KV cache for 4096 tokens: 0.22 GiB in f16, 0.44 GiB in f32 (5.08 vs 5.30 GiB alone).
  it("counts the K/V cache in f32 for llama.cpp (faster on these builds) unless that costs a node or the standby", () => {
    const f32 = planLayers(QWEN25_7B, SEED, opts);
    const f16 = planLayers(QWEN25_7B, SEED, { ...opts, kvCacheType: "f16" });
    expect([f32.kvCacheType, f16.kvCacheType]).toEqual(["f32", "f16"]);
    expect(f32.shares[0].memoryBytes - f16.shares[0].memoryBytes).toBe(QWEN25_7B.kvBytesPerToken * 4096);
    expect(f32.explanation.at(-1)).toBe("K/V cache in f32, not llama.cpp's f16: these builds have no F16C, so f16 evaluates prompts 1.14-1.18x slower; f32 takes twice its RAM, and the plan has it");
    // 5.2 GiB free on each: alone in f16, or split in f32 — one node wins
    const roomFor16 = SEED.map((n) => ({ ...n, availableMemoryBytes: 6.2 * GiB }));
    const single = planLayers(QWEN25_7B, roomFor16, { ...opts, reservedBytes: {} });
    expect([single.mode, single.kvCacheType]).toEqual(["single", "f16"]);
    expect(single.explanation.at(-1)).toBe("K/V cache in f16: in f32 (1.14-1.18x faster prompt evaluation on these builds, twice the RAM) the model would need 2 nodes instead of 1");
    // aide-03 can take over only in f16: keeping a standby wins
    const standby = planLayers(QWEN25_7B, [SEED[0], SEED[1], { ...SEED[2], availableMemoryBytes: 6.2 * GiB }], opts);
    expect([standby.head, standby.kvCacheType, standby.standby?.map((s) => s.node)]).toEqual(["aide-02", "f16", ["aide-03"]]);
    expect(standby.explanation.at(-1)).toBe("K/V cache in f16: in f32 (1.14-1.18x faster prompt evaluation on these builds, twice the RAM) the model would leave no node to take over when aide-02 goes down");
    // prima.cpp keeps llama.cpp's f16
    expect(planLayers(QWEN25_7B, SEED, { ...opts, backend: "primacpp" }).kvCacheType).toBe("f16");
  });
});

describe("layer planner: the model on one node whenever one node holds it", () => {
  const opts = { backend: "llamacpp-rpc" as const, contextSize: 4096, parallel: 1, avoid: ["aide-01"], reservedBytes: { "aide-01": 1.5 * GiB } };
  const node = (i: number, cores: number, cpuMHz: number, availableGiB: number): PlannerNode => ({
    name: `aide-0${i}`, address: `192.168.1.10${i}`, memoryBytes: 8 * GB, availableMemoryBytes: availableGiB * GiB, cores, cpuMHz,
  });

  it("says why one node and not a split, with what the lab measured", () => {
    const plan = planLayers(QWEN25_7B, SEED, opts);
    expect(plan.explanation).toContain(
      "runs on aide-02 alone: it has 6.30 GiB free for the 5.30 GiB needed, and it is the fastest node with that room (6.0); " +
      "one node, not a split, because a split runs its layers in series over RPC and adds a network hop per token — " +
      "the legacy-cluster lab measured two-node splits slower on Core 2 nodes (voice-to-voice p50 6.79 s split vs 5.88 s on one node, " +
      "1.94 tok/s generating split; 7.75 s vs 6.51 s with prompt evaluation pipelined over both)",
    );
  });

  it("picks the fastest node that holds the model alone", () => {
    const plan = planLayers(QWEN25_7B, [node(1, 2, 3000, 7.3), node(2, 2, 2400, 7.3), node(3, 2, 3000, 7.3), node(4, 2, 2660, 7.3)], opts);
    expect([plan.mode, plan.head]).toEqual(["single", "aide-03"]);
  });

  it("keeps the model on one slower node rather than splitting it over faster nodes that cannot hold it alone", () => {
    // aide-02 and aide-03: quad cores with too little free RAM for the 5.30 GiB alone; together they could hold it
    const nodes = [node(1, 2, 3000, 7.3), node(2, 4, 3000, 5), node(3, 4, 3000, 5), node(4, 2, 2400, 7.3)];
    const plan = planLayers(QWEN25_7B, nodes, opts);
    expect(plan).toMatchObject({ mode: "single", head: "aide-04", shares: [{ node: "aide-04", layers: 28 }] });
    expect(plan.explanation.join("\n")).toContain(
      "runs on aide-04 alone: it has 6.30 GiB free for the 5.30 GiB needed, and it is the fastest node with that room (4.8) — " +
      "aide-02 (12.0, 4.00 GiB free), aide-03 (12.0, 4.00 GiB free) are faster but cannot hold it alone; one node, not a split",
    );
    // the same fast pair does split a model that no node holds alone, and says it is the last resort
    const split = planLayers(LLAMA2_13B, nodes, opts);
    expect(split.mode).toBe("split");
    expect(split.explanation.join("\n")).toMatch(/splits 40 layers over \d nodes because no single node has [\d.]+ GiB free \(a split is the last resort: the legacy-cluster lab measured two-node splits slower/);
  });

  it("uses the agent's node alone before splitting, when only it has the room", () => {
    const nodes = [node(1, 2, 3000, 7.3 + 1.5), node(2, 2, 3000, 5), node(3, 2, 3000, 5)];
    const plan = planLayers(QWEN25_7B, nodes, opts);
    expect([plan.mode, plan.head]).toEqual(["single", "aide-01"]);
    expect(plan.shares[0].threads).toBe(1); // a core stays with speech
    expect(plan.explanation.join("\n")).toContain("(aide-01 also runs the voice agent; no other node has room)");
  });
});

describe("where STT, TTS and the embeddings server run: away from the LLM", () => {
  const opts = { backend: "llamacpp-rpc" as const, contextSize: 4096, parallel: 1, avoid: ["aide-01"], reservedBytes: { "aide-01": 1.5 * GiB } };
  const seedNode = (i: number, extra: Partial<PlannerNode> = {}): PlannerNode => ({
    name: `aide-0${i}`, address: `192.168.1.10${i}`, memoryBytes: 8 * GB, availableMemoryBytes: 7.3 * GiB, cores: 2, cpuMHz: 3000, ...extra,
  });
  const cluster = (n: number) => Array.from({ length: n }, (_, i) => seedNode(i + 1));
  const own = (p: ReturnType<typeof placeSideServices>) => ({ stt: p.nodes.stt[0], tts: p.nodes.tts[0], embeddings: p.nodes.embeddings[0] });

  it("on the seed's 3 nodes: all on the node neither the LLM nor the agent uses, never on the LLM's", () => {
    const plan = planLayers(QWEN25_7B, cluster(3), opts);
    const placed = placeSideServices(cluster(3), plan, "aide-01");
    expect(own(placed)).toEqual({ stt: "aide-03", tts: "aide-03", embeddings: "aide-03" });
    for (const s of ["stt", "tts", "embeddings"] as const) expect(placed.nodes[s]).not.toContain("aide-02");
    expect(placed.nodes.stt).toEqual(["aide-03", "aide-01"]); // where it moves when its node dies
    expect(placed.explanation).toEqual([
      "speech services: STT on aide-03, TTS on aide-03, embeddings on aide-03 — away from the LLM on aide-02, which keeps every core " +
        "of its node busy through a turn (a speech stage beside it would slow both), and off the agent's node aide-01 (its vision and VAD run all the time): " +
        "they work at different moments of a turn, so they share aide-03; each may move to aide-03 or aide-01 when its node goes down",
      "aide-03 is also where the LLM goes if aide-02 goes down: the speech services there then share its cores until it is back",
    ]);
  });

  it("on 4 and 5 nodes: idle nodes first, each service on its own once there are enough", () => {
    expect(own(placeSideServices(cluster(4), planLayers(QWEN25_7B, cluster(4), opts), "aide-01"))).toEqual({ stt: "aide-03", tts: "aide-04", embeddings: "aide-03" });
    expect(own(placeSideServices(cluster(5), planLayers(QWEN25_7B, cluster(5), opts), "aide-01"))).toEqual({ stt: "aide-03", tts: "aide-04", embeddings: "aide-05" });
  });

  it("takes the fastest idle node first", () => {
    const nodes = [seedNode(1), seedNode(2), seedNode(3, { cpuMHz: 2000 }), seedNode(4, { cores: 4 })];
    const plan = planLayers(QWEN25_7B, nodes, opts);
    expect(plan.head).toBe("aide-04"); // the fastest holds the LLM
    expect(own(placeSideServices(nodes, plan, "aide-01"))).toEqual({ stt: "aide-02", tts: "aide-03", embeddings: "aide-02" });
  });

  it("with the LLM on the agent's node (only it had room), keeps speech on the other nodes", () => {
    const nodes = [seedNode(1, { availableMemoryBytes: 8.8 * GiB }), seedNode(2, { availableMemoryBytes: 5 * GiB }), seedNode(3, { availableMemoryBytes: 5 * GiB })];
    const plan = planLayers(QWEN25_7B, nodes, opts);
    expect([plan.mode, plan.head]).toEqual(["single", "aide-01"]);
    const placed = placeSideServices(nodes, plan, "aide-01");
    expect(own(placed)).toEqual({ stt: "aide-02", tts: "aide-03", embeddings: "aide-02" });
    for (const s of ["stt", "tts", "embeddings"] as const) expect(placed.nodes[s]).not.toContain("aide-01");
  });

  it("when every node holds layers, runs them on the agent's node, where the planner left a core for speech", () => {
    // 2.5 GiB free on each: the 7B's 5.30 GiB needs all three
    const nodes = cluster(3).map((n) => ({ ...n, availableMemoryBytes: 3.5 * GiB }));
    const plan = planLayers(QWEN25_7B, nodes, { ...opts, reservedBytes: {} });
    expect(plan.shares.map((s) => s.node).sort()).toEqual(["aide-01", "aide-02", "aide-03"]);
    const placed = placeSideServices(nodes, plan, "aide-01");
    expect(placed.nodes).toEqual({ stt: ["aide-01"], tts: ["aide-01"], embeddings: ["aide-01"] });
    expect(placed.explanation[0]).toBe(
      "speech services: STT on aide-01 (the agent's node), TTS on aide-01 (the agent's node), embeddings on aide-01 (the agent's node) — " +
      "every node holds LLM layers, and the planner leaves one of aide-01's cores to speech");
    expect(plan.shares.find((s) => s.node === "aide-01")!.threads).toBe(1);
  });

  it("places them without a layer plan, and refuses an agent node the stack does not have", () => {
    expect(placeSideServices(cluster(3), undefined, "aide-01").explanation[0]).toBe(
      "speech services: STT on aide-02, TTS on aide-03, embeddings on aide-02 — no layer plan, so no node is known to run the LLM, and off the agent's node aide-01 " +
      "(its vision and VAD run all the time): they work at different moments of a turn, so they share aide-02 and aide-03; each may move to aide-02 or aide-03 or aide-01 when its node goes down");
    expect(() => placeSideServices(cluster(3), undefined, "aide-09")).toThrow("placing the speech services: the agent's node aide-09 is not one of the stack's nodes");
  });
});

describe("layer planner on the prima.cpp paper's 4-device cluster", () => {
  it("runs Llama 3-8B on the desktop alone: only it has room", () => {
    const plan = planLayers(LLAMA3_8B, PAPER, { backend: "primacpp", contextSize: 4096, parallel: 1, ...PAPER_OPTS });
    expect([plan.mode, plan.head]).toEqual(["single", "d3-desktop-i9"]);
  });

  it("splits Qwen 2.5-14B with the desktop taking the most layers, and leaves out a device it does not need", () => {
    const plan = planLayers(QWEN25_14B, PAPER, { backend: "llamacpp-rpc", contextSize: 4096, parallel: 1, ...PAPER_OPTS });
    expect(plan.mode).toBe("split");
    expect(plan.head).toBe("d3-desktop-i9");
    const by = Object.fromEntries(plan.shares.map((s) => [s.node, s.layers]));
    expect(Object.values(by).reduce((a, b) => a + b, 0)).toBe(48);
    expect(Math.max(...Object.values(by))).toBe(by["d3-desktop-i9"]);
    // between the equally fast devices, the one with more free RAM joins: fewer hops
    expect(plan.shares.map((s) => s.node).sort()).toEqual(["d2-laptop-i9", "d3-desktop-i9"]);
    expect(plan.explanation.some((l) => /^leaves out d\d-[a-z0-9-]+: the nodes chosen before it \(faster, or as fast with more RAM\) already hold the model/.test(l))).toBe(true);
    for (const s of plan.shares) expect(s.memoryBytes).toBeLessThanOrEqual(freeOf(PAPER.find((n) => n.name === s.node)!, 0.25 * GiB));
  });

  it("refuses a 70B model even for prima.cpp, saying why Aide does not page weights from disk", () => {
    expect(() => planLayers(LLAMA3_70B, PAPER, { backend: "primacpp", contextSize: 4096, parallel: 1, ...PAPER_OPTS }))
      .toThrow(/does not fit in the cluster's RAM.*prima\.cpp could page weights from disk/);
  });
});

describe("layer planner with a slow node", () => {
  const nodes: PlannerNode[] = [
    { name: "fast-1", address: "10.1.0.1", memoryBytes: 8 * GiB, cores: 4, cpuMHz: 3000, memoryBandwidthGBps: 12 },
    { name: "fast-2", address: "10.1.0.2", memoryBytes: 8 * GiB, cores: 4, cpuMHz: 3000, memoryBandwidthGBps: 10 },
    { name: "old-p4", address: "10.1.0.3", memoryBytes: 8 * GiB, cores: 1, cpuMHz: 2400, memoryBandwidthGBps: 2 },
  ];
  const opts = { backend: "llamacpp-rpc" as const, contextSize: 2048, parallel: 1 };

  it("leaves a node out when it is too slow to help and the model fits without it", () => {
    const plan = planLayers(model("m", 11 * GB, 40, 8, 128, 0.05), nodes, opts);
    expect(plan.shares.map((s) => s.node)).toEqual(["fast-1", "fast-2"]);
    expect(plan.explanation).toContain("leaves out old-p4: 2.0 is below 30% of the fastest (12.0), and the model fits without it");
    // measured bandwidth decides the proportions: 12:10
    const [a, b] = plan.shares.map((s) => s.layers);
    expect(a).toBeGreaterThan(b);
  });

  it("takes the slow node in when the model needs its RAM", () => {
    const plan = planLayers(model("m", 17 * GB, 40, 8, 128, 0.05), nodes, opts);
    expect(plan.shares.map((s) => s.node)).toEqual(["fast-1", "fast-2", "old-p4"]);
  });
});

describe("layer planner on facts that are odd or missing", () => {
  const opts = { backend: "llamacpp-rpc" as const, contextSize: 4096, parallel: 1 };
  const seedNode = (i: number, facts: Partial<PlannerNode> = {}): PlannerNode => ({ ...SEED[0], name: `aide-0${i}`, address: `192.168.1.10${i}`, ...facts });

  it("never plans NaN layers or threads for a node that reports 0 or NaN speed", () => {
    const nodes = [seedNode(1, { cores: NaN }), seedNode(2, { cpuMHz: 0 }), seedNode(3)];
    for (const backend of ["llamacpp-rpc", "primacpp"] as const) {
      const plan = planLayers(LLAMA2_13B, nodes, { ...opts, backend });
      expect(plan.shares.reduce((sum, x) => sum + x.layers, 0)).toBe(40);
      for (const share of plan.shares) {
        expect(Number.isInteger(share.layers) && share.layers >= 1).toBe(true);
        expect(Number.isInteger(share.threads) && share.threads >= 1).toBe(true);
      }
      if (backend === "llamacpp-rpc") expect(Number.isInteger(llamaCppSplit(plan).offloadedLayers)).toBe(true);
      expect(plan.explanation.join("\n")).toMatch(/speed unknown for aide-01 \(cores NaN, 3000 MHz\), aide-02 \(cores 2, 0 MHz\): counted as the slowest node's/);
    }
  });

  it("gives no layer to a node without room, and never makes it the head, however fast it is", () => {
    const tight = seedNode(4, { cores: 8, availableMemoryBytes: 1.5 * GiB }); // 0.5 GiB free after headroom
    const nodes = [...SEED, tight];
    for (const backend of ["llamacpp-rpc", "primacpp"] as const) {
      const plan = planLayers(LLAMA2_13B, [tight, ...SEED], { ...opts, backend });
      expect(plan.shares.map((x) => x.node)).not.toContain("aide-04");
      expect(plan.head).not.toBe("aide-04");
      for (const share of plan.shares) expect(share.memoryBytes).toBeLessThanOrEqual(freeOf(nodes.find((n) => n.name === share.node)!));
      expect(plan.explanation.join("\n")).toMatch(/leaves out aide-04: no room for a layer \(0\.50 GiB free/);
    }
  });

  it("plans around a node whose memory is unknown instead of refusing the model", () => {
    const plan = planLayers(LLAMA2_13B, [...SEED, seedNode(4, { memoryBytes: NaN, availableMemoryBytes: undefined })], opts);
    expect(plan.shares.reduce((sum, x) => sum + x.layers, 0)).toBe(40);
    expect(plan.shares.map((x) => x.node)).not.toContain("aide-04");
    expect(plan.explanation.join("\n")).toContain("memory unknown for aide-04: no layers planned there");
  });

  it("asks for a node that really is enough when the model does not fit", () => {
    for (const backend of ["llamacpp-rpc", "primacpp"] as const) {
      let message = "";
      try { planLayers(LLAMA3_70B, SEED, { ...opts, backend }); } catch (e) { message = (e as Error).message; }
      const asked = Number(/add a node with ≥ ([\d.]+) GiB of RAM/.exec(message)?.[1]);
      expect(asked).toBeGreaterThan(0);
      // The new node as the slowest (the last worker) and as the fastest (the head).
      for (const cores of [1, 8]) {
        const added = seedNode(9, { name: "added", cores, memoryBytes: asked * GiB, availableMemoryBytes: asked * GiB });
        const plan = planLayers(LLAMA3_70B, [...SEED, added], { ...opts, backend, minSpeedFraction: 0 });
        expect(plan.shares.reduce((sum, x) => sum + x.layers, 0)).toBe(80);
      }
    }
  });
});

describe("reading a model's GGUF metadata", () => {
  it("gets layer count, per-layer bytes and KV size from the file (node-llama-cpp's reader)", async () => {
    const path = await ensureTinyChatModel();
    const facts = readModelFacts(path);
    // the tiny model: 4 llama blocks, 128 wide, 4 heads of 32, 2 KV heads
    expect(facts).toMatchObject({ architecture: "llama", layerCount: 4, kvBytesPerToken: 4 * 2 * 2 * 2 * 32 });
    expect(new Set(facts.layerBytes).size).toBe(1);
    // every tensor byte is accounted for: blocks + the rest = file minus header
    const total = facts.layerBytes.reduce((a, b) => a + b, 0) + facts.otherBytes + facts.outputBytes!;
    // its output head: 517 tokens × 128 in q8_0 (34 bytes per 32 values) + the f32 norm
    expect(facts.outputBytes).toBeGreaterThanOrEqual(517 * 128 / 32 * 34 + 128 * 4);
    expect(total).toBeLessThan(statSync(path).size);
    expect(total).toBeGreaterThan(statSync(path).size * 0.9);
  });

  it("says clearly when the file is not a GGUF", () => {
    const bad = join(tmpdir(), "aide-not-a-model.gguf");
    writeFileSync(bad, "this is not a model");
    expect(() => readModelFacts(bad)).toThrow(/^model .*aide-not-a-model\.gguf: cannot read its GGUF header \(.*\) — is it a complete \.gguf file\?/);
  });
});

describe("reading a model's GGUF metadata from its download URL", () => {
  // The control node reads only the header with range requests: no multi-GB download.
  // The server is its own process: the reader blocks this one while it runs.
  let server: ChildProcess;
  let url: string;
  let log = "";
  beforeAll(async () => {
    const path = await ensureTinyChatModel();
    server = spawn(process.execPath, ["-e", `
      const { createServer } = require("node:http");
      const { createReadStream, statSync } = require("node:fs");
      const path = process.argv[1];
      const size = statSync(path).size;
      const s = createServer((req, res) => {
        const m = /bytes=(\\d+)-(\\d*)/.exec(req.headers.range || "");
        console.log(req.method + " " + (req.headers.range || "whole file"));
        if (!m) {
          res.writeHead(200, { "Content-Length": size, "Accept-Ranges": "bytes" });
          return req.method === "HEAD" ? res.end() : createReadStream(path).pipe(res);
        }
        const start = Number(m[1]);
        const end = Math.min(m[2] ? Number(m[2]) : size - 1, size - 1);
        res.writeHead(206, { "Content-Length": end - start + 1, "Content-Range": "bytes " + start + "-" + end + "/" + size, "Accept-Ranges": "bytes" });
        createReadStream(path, { start, end }).pipe(res);
      });
      s.listen(0, "127.0.0.1", () => console.log("listening " + s.address().port));
    `, path], { stdio: ["ignore", "pipe", "inherit"] });
    server.stdout!.on("data", (d: Buffer) => { log += d.toString(); });
    const deadline = Date.now() + 10_000;
    while (!/listening (\d+)/.test(log) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    url = `http://127.0.0.1:${/listening (\d+)/.exec(log)![1]}/aide-tiny.gguf`;
  });
  afterAll(() => { server.kill(); });

  it("gets the same facts from the URL as from the file, with range requests only", async () => {
    const fromFile = readModelFacts(await ensureTinyChatModel());
    expect(readModelFacts(url)).toEqual(fromFile);
    await new Promise((r) => setTimeout(r, 200));
    expect(log).toMatch(/GET bytes=0-\d+/);
    expect(log).not.toContain("GET whole file");
  });

  it("says so when the URL does not answer", () => {
    expect(() => readModelFacts("http://127.0.0.1:9/missing.gguf")).toThrow(/^model http:\/\/127\.0\.0\.1:9\/missing\.gguf: cannot read its GGUF header \(.+\) — is it a complete \.gguf file at a reachable URL\?$/);
  });
});
