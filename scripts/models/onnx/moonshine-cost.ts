// A Moonshine-tiny stand-in that costs what the real model costs: the same four graphs
// sherpa-onnx loads (preprocess, encode, uncached_decode, cached_decode), with moonshine-
// tiny's layers and sizes and seeded random weights, so a benchmark on it waits as long
// as it would for the real recognizer. Its transcript still comes from the fixed-phrase
// gate of sherpa.ts (moonshinePhraseLogits), so it says a known phrase for any non-silent
// audio and "" for silence.
//
// How the phrase survives the heavy path, which ONNX Runtime must still run in full:
//  - preprocess: the conv stack's output, with its last channel replaced by the loudest
//    384-sample frame's mean |sample| (the gate's input), is the features output;
//  - encode: the transformer's output with that channel passed through is encoder_out;
//  - decoders: logits = phrase logits + 1e-4 · tanh(the real vocabulary head's logits),
//    at most 1e-4 against a 30-logit margin, so the phrase always wins, and every
//    layer feeds a graph output (nothing is constant, nothing can be folded away).
//
// Precision mirrors what the catalog downloads (sherpa-onnx-moonshine-tiny-en-int8):
// preprocess.onnx in float32, and every weight MatMul of encode/decoders as
// onnxruntime.quantization.quantize_dynamic(weight_type=QInt8) writes it
// (scripts/moonshine/export-onnx.py in k2-fsa/sherpa-onnx): DynamicQuantizeLinear →
// MatMulInteger (uint8 × int8) → Cast → Mul(scale). On a CPU without VNNI (a Core 2)
// int8 GEMM speed differs from float GEMM, so float weights would time the wrong kernels.
// Attention score/value MatMuls stay float, as there.
//
// Simplified, with the MACs kept (moonshineTinyMacs vs standInMacs below): no rotary
// position embedding (elementwise, no MACs) and no causal mask (one query per step).
import { OnnxGraph } from "./graph";
import { moonshineFrameLevels, moonshinePhrase, moonshinePhraseLogits, MoonshinePhrase } from "./sherpa";

/**
 * moonshine-tiny's shape (UsefulSensors, 27.1M parameters). Where each number was read:
 *  - dim 288, FFN 1152, 6 + 6 layers, 8 heads, vocab 32768, encoder GELU, decoder SiLU
 *    gate (SwiGLU: fc1 288→2·1152, fc2 1152→288), partial rotary 0.9: the defaults of
 *    transformers' MoonshineConfig, documented as UsefulSensors/moonshine-tiny's
 *    (src/transformers/models/moonshine/configuration_moonshine.py, modeling_moonshine.py);
 *  - 6 layers × 8 KV heads × head_dim 36: usefulsensors/moonshine moonshine-onnx/src/model.py;
 *  - preprocessor Conv1d(1→288, k127, s64, no bias), tanh, GroupNorm(1 group),
 *    Conv1d(288→576, k7, s3), GELU, Conv1d(576→288, k3, s2), GELU: usefulsensors/moonshine
 *    moonshine/model.py AudioPreprocessor (also keras-hub's MoonshinePreprocessor and
 *    CTranslate2's MoonshinePreprocessor: strides 64, 3, 2);
 *  - 24 decoder states (6 layers × self K, V, cross K, V), 413 frames for 159414 samples:
 *    k2-fsa/sherpa-onnx scripts/moonshine/test.py; ids <s> 1, </s> 2 and at most 6 tokens
 *    per second: sherpa-onnx/csrc/offline-moonshine-greedy-search-decoder.cc.
 */
export const MOONSHINE_TINY = {
  sampleRate: 16000,
  dim: 288,
  heads: 8,
  headDim: 36,
  encoderLayers: 6,
  decoderLayers: 6,
  ffn: 1152,
  vocab: 32768,
  convs: [
    { in: 1, out: 288, kernel: 127, stride: 64, bias: false },
    { in: 288, out: 576, kernel: 7, stride: 3, bias: true },
    { in: 576, out: 288, kernel: 3, stride: 2, bias: true },
  ],
} as const;

/**
 * A published CPU speed of moonshine-tiny, to print beside the stand-in's real-time
 * factor. The OpenASR build's model card gives RTF 0.03 (q8_0) and 0.04 (fp16) on an
 * Apple M1's CPU for an 11 s clip (its own runtime, not ONNX Runtime). For scale, the
 * Moonshine v2 paper (arXiv 2602.12241, Table 2, as quoted in its readers' notes) gives
 * moonshine-tiny a 27 ms response latency at 5.91 % compute load on an Apple M3.
 */
export const MOONSHINE_TINY_PUBLISHED_CPU = {
  rtf: 0.03,
  cpu: "Apple M1 (CPU)",
  audio: "11 s clip (JFK)",
  runtime: "OpenASR moonshine-tiny q8_0",
  source: "https://huggingface.co/OpenASR/moonshine-tiny",
} as const;

/** The fewest samples the conv stack turns into one encoder frame (shorter audio is zero-padded). */
export const MOONSHINE_MIN_SAMPLES = MOONSHINE_TINY.convs.reduceRight((need, c) => (need - 1) * c.stride + c.kernel, 1);

/** Frames after each conv of the preprocessor for `samples` of 16 kHz audio. */
export function convFrames(samples: number): number[] {
  const out: number[] = [];
  let t = samples;
  for (const c of MOONSHINE_TINY.convs) {
    t = Math.max(0, Math.floor((t - c.kernel) / c.stride) + 1);
    out.push(t);
  }
  return out;
}

/** Multiply-accumulates of one transcription, split by graph. */
export interface MacCount {
  preprocess: number;
  encode: number;
  /** The first decoder step, including the cross-attention K/V of every encoder frame. */
  uncachedDecode: number;
  /** Every later step together. */
  cachedDecode: number;
  total: number;
}

function macCount(preprocess: number, encode: number, uncachedDecode: number, cachedDecode: number): MacCount {
  return { preprocess, encode, uncachedDecode, cachedDecode, total: preprocess + encode + uncachedDecode + cachedDecode };
}

/**
 * The real moonshine-tiny's MACs, from its hyper-parameters alone, for `samples` of
 * audio decoded into `tokens` tokens (sherpa runs the decoder tokens + 1 times: the
 * last run says </s>). Counts every matrix product; elementwise work is left out.
 */
export function moonshineTinyMacs(samples: number, tokens: number): MacCount {
  const { dim: d, ffn, vocab, convs, encoderLayers, decoderLayers } = MOONSHINE_TINY;
  const frames = convFrames(samples);
  const T = frames[2];
  const preprocess = convs.reduce((sum, c, i) => sum + frames[i] * c.out * c.in * c.kernel, 0);
  const encode = encoderLayers * (4 * T * d * d + 2 * T * T * d + 2 * T * d * ffn);
  const step = (L: number) =>
    decoderLayers * (4 * d * d + 2 * L * d + 2 * d * d + 2 * T * d + d * 2 * ffn + ffn * d) + d * vocab;
  const crossKv = decoderLayers * 2 * T * d * d;
  let cached = 0;
  for (let L = 2; L <= tokens + 1; L++) cached += step(L);
  return macCount(preprocess, encode, crossKv + step(1), cached);
}

/**
 * moonshine-tiny's parameter count from MOONSHINE_TINY (weights, biases, norms; the
 * embedding tied to the head): a check on the hyper-parameters against the published
 * 27.1M (transformers' model card, the Moonshine paper).
 */
export function moonshineTinyParameters(): number {
  const { dim: d, ffn, vocab, convs, encoderLayers, decoderLayers } = MOONSHINE_TINY;
  const preprocess = convs.reduce((sum, c) => sum + c.out * c.in * c.kernel + (c.bias ? c.out : 0), 0) + 2 * convs[0].out;
  const encoderLayer = 4 * d * d + (d * ffn + ffn) + (ffn * d + d) + 2 * d;
  const decoderLayer = 8 * d * d + (d * 2 * ffn + 2 * ffn) + (ffn * d + d) + 3 * d;
  return preprocess + encoderLayers * encoderLayer + d + decoderLayers * decoderLayer + d + vocab * d;
}

/** Symbolic sizes a graph's MACs depend on. */
interface Sizes {
  /** Audio samples after the stand-in's padding to MOONSHINE_MIN_SAMPLES. */
  samples: number;
  /** Encoder frames. */
  frames: number;
  /** seq_len: tokens so far, the current one included. */
  position: number;
}
type Count = (s: Sizes) => number;

/**
 * Seeded xorshift32 weights. The loops are plain bitwise arithmetic on a local: a call
 * per value with Math.imul/Math.floor ran 100× slower inside jest's realm (48 s for the
 * 27M values).
 */
class WeightSource {
  private x: number;

  constructor(seed: number) {
    this.x = seed | 0 || 1;
  }

  /** Uniform integers in [-127, 127]: symmetric int8, as quantize_dynamic(QInt8) makes. */
  int8(n: number): Int8Array {
    const out = new Int8Array(n);
    let x = this.x;
    for (let i = 0; i < n; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      for (let j = 0; j < 4 && i + j < n; j++) {
        const b = (x >>> (8 * j)) & 255;
        out[i + j] = (b === 0 ? 1 : b) - 128;
      }
    }
    this.x = x;
    return out;
  }

  /** Uniform in centre ± spread. */
  float(n: number, spread: number, centre: number): Float32Array {
    const out = new Float32Array(n);
    let x = this.x;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = centre + ((x >>> 0) / 4294967296 - 0.5) * 2 * spread;
    }
    this.x = x;
    return out;
  }
}

interface Int8Weight {
  q: string;
  scale: string;
}

/**
 * An OnnxGraph plus the layers the stand-in is made of. Every matrix product goes through
 * `linear`, `conv` or `attend`, which record its MACs as a function of the sizes: that
 * ledger is what standInMacs adds up. With `countOnly`, no weights are made (the graph is
 * then only for counting and must not be serialized).
 */
class CostGraph {
  readonly g: OnnxGraph;
  readonly macs: Count[] = [];
  private readonly weights: WeightSource;
  private zeroPoint?: string;

  constructor(
    name: string,
    seed: number,
    private readonly countOnly: boolean,
  ) {
    this.g = new OnnxGraph(name);
    this.weights = new WeightSource(seed);
  }

  /** Uniform in centre ± sqrt(3 / fanIn): variance 1/fanIn keeps activations near unit size. */
  floatWeights(dims: number[], fanIn: number, spread = Math.sqrt(3 / fanIn), centre = 0): string {
    if (this.countOnly) return this.g.fresh("w");
    return this.g.constant("float", dims, this.weights.float(dims.reduce((a, b) => a * b, 1), spread, centre));
  }

  /** A symmetric per-tensor int8 weight (zero point 0), as quantize_dynamic(QInt8) stores it. */
  int8Weights(inDim: number, outDim: number): Int8Weight {
    if (this.countOnly) return { q: this.g.fresh("wq"), scale: this.g.fresh("ws") };
    return { q: this.g.constant("int8", [inDim, outDim], this.weights.int8(inDim * outDim)), scale: this.g.scalar(Math.sqrt(3 / inDim) / 127) };
  }

  /** x (…, rows, inDim) · W (inDim, outDim) [+ b], dynamically quantized. */
  linear(x: string, inDim: number, outDim: number, rows: Count, options: { bias?: boolean; weights?: Int8Weight } = {}): string {
    const g = this.g;
    const w = options.weights ?? this.int8Weights(inDim, outDim);
    this.zeroPoint ??= this.countOnly ? g.fresh("zp") : g.constant("int8", [], [0]);
    const [xq, xScale, xZero] = [g.fresh("xq"), g.fresh("xscale"), g.fresh("xzero")];
    g.node("DynamicQuantizeLinear", [x], {}, [xq, xScale, xZero]);
    const product = g.node("MatMulInteger", [xq, w.q, xZero, this.zeroPoint]);
    let y = g.node("Mul", [g.node("Cast", [product], { to: 1 }), g.node("Mul", [xScale, w.scale])]);
    if (options.bias) y = g.node("Add", [y, this.floatWeights([outDim], 1, 0.02)]);
    this.macs.push((s) => rows(s) * inDim * outDim);
    return y;
  }

  /** Conv1d on (1, in, T) in float32, as preprocess.onnx is shipped. */
  conv(x: string, c: (typeof MOONSHINE_TINY.convs)[number], framesOut: Count): string {
    const inputs = [x, this.floatWeights([c.out, c.in, c.kernel], c.in * c.kernel)];
    if (c.bias) inputs.push(this.floatWeights([c.out], 1, 0.02));
    this.macs.push((s) => framesOut(s) * c.out * c.in * c.kernel);
    return this.g.node("Conv", inputs, { kernel_shape: [c.kernel], strides: [c.stride] });
  }

  /** Normalizes over the last axis, with a learned scale (moonshine's LayerNorm has no bias). */
  layerNorm(x: string, dim: number): string {
    const g = this.g;
    const centred = g.node("Sub", [x, g.node("ReduceMean", [x], { axes: [-1], keepdims: 1 })]);
    const variance = g.node("ReduceMean", [g.node("Mul", [centred, centred])], { axes: [-1], keepdims: 1 });
    const normal = g.node("Div", [centred, g.node("Sqrt", [g.node("Add", [variance, g.scalar(1e-5)])])]);
    return g.node("Mul", [normal, this.floatWeights([dim], 1, 0.1, 1)]);
  }

  /** Exact GELU, x·Φ(x) (ONNX Runtime fuses this pattern into its Gelu kernel). */
  gelu(x: string): string {
    const g = this.g;
    const erf = g.node("Erf", [g.node("Div", [x, g.scalar(Math.SQRT2)])]);
    return g.node("Mul", [g.node("Mul", [x, g.scalar(0.5)]), g.node("Add", [erf, g.scalar(1)])]);
  }

  /** (1, L, dim) → (1, heads, L, headDim). */
  splitHeads(x: string): string {
    const { heads, headDim } = MOONSHINE_TINY;
    return this.g.node("Transpose", [this.g.node("Reshape", [x, this.g.int64s([1, -1, heads, headDim])])], { perm: [0, 2, 1, 3] });
  }

  /** (1, heads, L, headDim) → (1, L, dim). */
  mergeHeads(x: string): string {
    return this.g.node("Reshape", [this.g.node("Transpose", [x], { perm: [0, 2, 1, 3] }), this.g.int64s([1, -1, MOONSHINE_TINY.dim])]);
  }

  /** softmax(q·kᵀ/√headDim)·v on split heads, in float. */
  attend(q: string, k: string, v: string, queries: Count, keys: Count): string {
    const g = this.g;
    const scores = g.node("Mul", [g.node("MatMul", [q, g.node("Transpose", [k], { perm: [0, 1, 3, 2] })]), g.scalar(1 / Math.sqrt(MOONSHINE_TINY.headDim))]);
    this.macs.push((s) => 2 * queries(s) * keys(s) * MOONSHINE_TINY.dim);
    return g.node("MatMul", [g.node("Softmax", [scores], { axis: -1 }), v]);
  }

  /** The last channel of (1, L, dim): where the stand-in carries the loudness. */
  levelChannel(x: string): string {
    const d = MOONSHINE_TINY.dim;
    return this.g.node("Slice", [x, this.g.int64s([d - 1]), this.g.int64s([d]), this.g.int64s([2])]);
  }

  /** (1, L, dim) with its last channel replaced by `level` (1, L, 1). */
  withLevel(x: string, level: string): string {
    const d = MOONSHINE_TINY.dim;
    const rest = this.g.node("Slice", [x, this.g.int64s([0]), this.g.int64s([d - 1]), this.g.int64s([2])]);
    return this.g.node("Concat", [rest, level], { axis: 2 });
  }
}

const SEEDS = { preprocess: 11, encode: 12, decode: 13 };
/** How far the heavy head may move a logit: far below the phrase table's 30-logit margin. */
const HEAVY_WEIGHT = 1e-4;

function preprocessGraph(countOnly: boolean): CostGraph {
  const c = new CostGraph("moonshine_tiny_cost_preprocess", SEEDS.preprocess, countOnly);
  const g = c.g;
  const [conv1, conv2, conv3] = MOONSHINE_TINY.convs;
  const audio = g.input("audio", "float", [1, "N"]);

  // Audio shorter than one encoder frame is zero-padded to one (the real graph would fail).
  const n = g.node("Gather", [g.node("Shape", [audio]), g.int64s([1])], { axis: 0 }); // (1)
  const pad = g.node("Max", [g.node("Sub", [g.int64s([MOONSHINE_MIN_SAMPLES]), n]), g.int64s([0])]);
  const padded = g.node("Pad", [audio, g.node("Concat", [g.int64s([0, 0, 0]), pad], { axis: 0 }), g.scalar(0)]);
  const loudest = g.node("ReduceMax", [moonshineFrameLevels(g, padded)], { axes: [1], keepdims: 1 }); // (1, 1, 1)

  const frames = (i: number) => (s: Sizes) => convFrames(s.samples)[i];
  let x = c.conv(g.node("Unsqueeze", [padded, g.int64s([1])]), conv1, frames(0)); // (1, 288, T1)
  x = g.node("Tanh", [x]);
  // GroupNorm with one group: normalize over channels and time together, then per channel.
  const centred = g.node("Sub", [x, g.node("ReduceMean", [x], { axes: [1, 2], keepdims: 1 })]);
  const variance = g.node("ReduceMean", [g.node("Mul", [centred, centred])], { axes: [1, 2], keepdims: 1 });
  x = g.node("Div", [centred, g.node("Sqrt", [g.node("Add", [variance, g.scalar(1e-5)])])]);
  x = g.node("Add", [g.node("Mul", [x, c.floatWeights([1, conv1.out, 1], 1, 0.1, 1)]), c.floatWeights([1, conv1.out, 1], 1, 0.02)]);
  x = c.gelu(c.conv(x, conv2, frames(1)));
  x = c.gelu(c.conv(x, conv3, frames(2)));
  const h = g.node("Transpose", [x], { perm: [0, 2, 1] }); // (1, T, 288)

  const levels = g.node("Expand", [loudest, g.node("Shape", [c.levelChannel(h)])]);
  g.output("features", "float", [1, "T", MOONSHINE_TINY.dim], c.withLevel(h, levels));
  return c;
}

function encodeGraph(countOnly: boolean): CostGraph {
  const c = new CostGraph("moonshine_tiny_cost_encode", SEEDS.encode, countOnly);
  const g = c.g;
  const { dim: d, ffn, encoderLayers } = MOONSHINE_TINY;
  const features = g.input("features", "float", [1, "T", d]);
  g.input("features_len", "int32", [1]);
  const T: Count = (s) => s.frames;

  let h = features;
  for (let layer = 0; layer < encoderLayers; layer++) {
    const x = c.layerNorm(h, d);
    const [q, k, v] = [0, 1, 2].map(() => c.splitHeads(c.linear(x, d, d, T)));
    h = g.node("Add", [h, c.linear(c.mergeHeads(c.attend(q, k, v, T, T)), d, d, T)]);
    const y = c.layerNorm(h, d);
    h = g.node("Add", [h, c.linear(c.gelu(c.linear(y, d, ffn, T, { bias: true })), ffn, d, T, { bias: true })]);
  }
  const out = c.layerNorm(h, d);
  g.output("encoder_out", "float", [1, "T", d], c.withLevel(out, c.levelChannel(features)));
  return c;
}

/**
 * uncached_decode / cached_decode: embedding (tied to the head, as moonshine's is) →
 * 6 × [self-attention over the K/V cache, cross-attention to encoder_out, SwiGLU FFN] →
 * LayerNorm → 288 → 32768 head. States, in sherpa's positional order: per layer self K,
 * self V (1, 8, L, 36), cross K, cross V (1, 8, T, 36); the uncached step computes the
 * cross K/V from encoder_out once, the cached ones pass them on.
 */
function decodeGraph(plan: MoonshinePhrase, cached: boolean, silenceLevel: number, countOnly: boolean): CostGraph {
  const c = new CostGraph(cached ? "moonshine_tiny_cost_cached_decode" : "moonshine_tiny_cost_uncached_decode", SEEDS.decode, countOnly);
  const g = c.g;
  const { dim: d, ffn, vocab: V, decoderLayers, heads, headDim } = MOONSHINE_TINY;
  const tokens = g.input("tokens", "int32", [1, 1]);
  const encoderOut = g.input("encoder_out", "float", [1, "T", d]);
  const seqLen = g.input("seq_len", "int32", [1]);
  const kinds = ["self_k", "self_v", "cross_k", "cross_v"];
  const stateDims = (kind: string, len: string) => [1, heads, kind.startsWith("self") ? len : "T", headDim];
  const statesIn: string[][] = [];
  if (cached) {
    for (let layer = 0; layer < decoderLayers; layer++) {
      statesIn.push(kinds.map((kind) => g.input(`${kind}_in_${layer}`, "float", stateDims(kind, "L_past"))));
    }
  }
  const one: Count = () => 1;
  const T: Count = (s) => s.frames;
  const L: Count = (s) => s.position;

  // The same int8 matrix embeds the token (a column) and scores the vocabulary (the head).
  const head = c.int8Weights(d, V);
  const id = g.node("Reshape", [g.node("Cast", [tokens], { to: 7 }), g.int64s([1])]);
  const column = g.node("Gather", [head.q, id], { axis: 1 }); // (288, 1) int8
  let h = g.node("Mul", [g.node("Cast", [g.node("Reshape", [column, g.int64s([1, 1, d])])], { to: 1 }), head.scale]);

  const statesOut: string[] = [];
  for (let layer = 0; layer < decoderLayers; layer++) {
    const x = c.layerNorm(h, d);
    const [q, kNew, vNew] = [0, 1, 2].map(() => c.splitHeads(c.linear(x, d, d, one)));
    const k = cached ? g.node("Concat", [statesIn[layer][0], kNew], { axis: 2 }) : kNew;
    const v = cached ? g.node("Concat", [statesIn[layer][1], vNew], { axis: 2 }) : vNew;
    h = g.node("Add", [h, c.linear(c.mergeHeads(c.attend(q, k, v, one, L)), d, d, one)]);

    const y = c.layerNorm(h, d);
    const qCross = c.splitHeads(c.linear(y, d, d, one));
    const [kCross, vCross] = cached ? [statesIn[layer][2], statesIn[layer][3]] : [0, 1].map(() => c.splitHeads(c.linear(encoderOut, d, d, T)));
    h = g.node("Add", [h, c.linear(c.mergeHeads(c.attend(qCross, kCross, vCross, one, T)), d, d, one)]);

    // SwiGLU as transformers' MoonshineDecoderMLP: fc1 → (values, gate), values · silu(gate) → fc2.
    const z = c.linear(c.layerNorm(h, d), d, 2 * ffn, one, { bias: true });
    const [values, gate] = [g.fresh("values"), g.fresh("gate")];
    g.node("Split", [z, g.int64s([ffn, ffn])], { axis: -1 }, [values, gate]);
    const swish = g.node("Mul", [gate, g.node("Sigmoid", [gate])]);
    h = g.node("Add", [h, c.linear(g.node("Mul", [values, swish]), ffn, d, one, { bias: true })]);

    statesOut.push(k, v, cached ? g.node("Identity", [kCross]) : kCross, cached ? g.node("Identity", [vCross]) : vCross);
  }
  const heavy = c.linear(c.layerNorm(h, d), d, V, one, { weights: head }); // (1, 1, V)

  const level = g.node("ReduceMax", [c.levelChannel(encoderOut)], { keepdims: 0 });
  const phrase = g.node("Reshape", [moonshinePhraseLogits(g, plan, level, seqLen, silenceLevel, V), g.int64s([1, 1, V])]);
  const logits = g.node("Add", [phrase, g.node("Mul", [g.node("Tanh", [heavy]), g.scalar(HEAVY_WEIGHT)])]);
  g.output("logits", "float", [1, 1, V], logits);
  for (let layer = 0; layer < decoderLayers; layer++) {
    kinds.forEach((kind, i) => g.output(`${kind}_out_${layer}`, "float", stateDims(kind, "L"), statesOut[layer * 4 + i]));
  }
  return c;
}

export interface MoonshineCostModel {
  preprocessor: Uint8Array;
  encoder: Uint8Array;
  uncachedDecoder: Uint8Array;
  cachedDecoder: Uint8Array;
  /** 32768 lines like the real tokens.txt: specials, the phrase's pieces, then fillers. */
  tokens: string;
}

/**
 * The stand-in bundle: says `phrase` for audio whose loudest 24 ms frame has a mean
 * |sample| above `silenceLevel`, and computes what moonshine-tiny computes to get there.
 * About 45 MB in all (int8 like the shipped files; float32 preprocess).
 */
export function moonshineCostModel(phrase: string, silenceLevel = 0.01): MoonshineCostModel {
  const plan = moonshinePhrase(phrase);
  const fillers = Array.from({ length: MOONSHINE_TINY.vocab - plan.vocab.length }, (_, i) => `<unused_${plan.vocab.length + i}>`);
  const producer = { metadata: { comment: `aide stand-in for moonshine-tiny (random weights): says "${plan.words.join(" ")}"` } };
  return {
    preprocessor: preprocessGraph(false).g.toBytes(producer),
    encoder: encodeGraph(false).g.toBytes(producer),
    uncachedDecoder: decodeGraph(plan, false, silenceLevel, false).g.toBytes(producer),
    cachedDecoder: decodeGraph(plan, true, silenceLevel, false).g.toBytes(producer),
    tokens: [...plan.vocab, ...fillers].map((t, i) => `${t} ${i}`).join("\n") + "\n",
  };
}

let ledger: { preprocess: Count[]; encode: Count[]; uncached: Count[]; cached: Count[] } | undefined;

/**
 * The stand-in's MACs for the same work as moonshineTinyMacs, added up from the ledger
 * its graphs recorded while being built (so a layer added to a graph is counted).
 */
export function standInMacs(samples: number, tokens: number): MacCount {
  const plan = moonshinePhrase("x");
  ledger ??= {
    preprocess: preprocessGraph(true).macs,
    encode: encodeGraph(true).macs,
    uncached: decodeGraph(plan, false, 0.01, true).macs,
    cached: decodeGraph(plan, true, 0.01, true).macs,
  };
  const padded = Math.max(samples, MOONSHINE_MIN_SAMPLES);
  const at = (position: number): Sizes => ({ samples: padded, frames: convFrames(padded)[2], position });
  const sum = (counts: Count[], s: Sizes) => counts.reduce((total, count) => total + count(s), 0);
  let cached = 0;
  for (let L = 2; L <= tokens + 1; L++) cached += sum(ledger.cached, at(L));
  return macCount(sum(ledger.preprocess, at(0)), sum(ledger.encode, at(0)), sum(ledger.uncached, at(1)), cached);
}
