// A stand-in for a Piper "medium" voice: a VITS graph with Piper medium's layer shapes and
// random seeded weights, in the Piper format sherpa-onnx loads. It sounds like noise, but
// ONNX Runtime does the same work per second of audio as a real medium voice, so a lab
// that emulates slow machines can measure what a user would wait for without downloading
// a voice. The cost is counted twice, independently: analytically from Piper's
// architecture (piperMacs) and from the nodes this generator emits (piperMediumCostMacs).
//
// Where it differs from Piper, on purpose (none of it changes the cost by more than a few %):
//  - durations are fixed: every phoneme id lasts FRAMES_PER_ID frames (× length_scale, as
//    sherpa's speed setting asks), so audio length is ids × 3 × 256 samples. A duration
//    predictor (VITS's deterministic one, not Piper's stochastic one) still runs and feeds
//    the latent, so it is computed, but it does not choose the lengths.
//  - attention has no relative-position terms; no noise is drawn (output is deterministic).
import { rng } from "../gguf/llama";
import { OnnxGraph } from "./graph";
import { toneVoice } from "./sherpa";

/**
 * Piper's "medium" quality, as rhasspy/piper trains it: `python -m piper_train
 * --quality medium` (the default) changes nothing, so the model is VitsModel's defaults
 * (src/python/piper_train/vits/lightning.py, __main__.py; the same values as
 * ModelAudioConfig.low_quality() in vits/config.py — "low" and "medium" differ only in
 * sample rate). SynthesizerTrn (vits/models.py) fixes the rest: flow WaveNet kernel 5,
 * dilation rate 1, 4 layers; stochastic duration predictor with 192 filters, kernel 3.
 * (512 channels, upsample 8,8,2,2 and ResBlock1 3/7/11 × 1,3,5 is Piper's "high".)
 */
export const PIPER_MEDIUM = {
  sampleRate: 22050,
  hopLength: 256,
  hiddenChannels: 192,
  interChannels: 192,
  filterChannels: 768,
  heads: 2,
  layers: 6,
  encoderKernel: 3,
  flow: { couplings: 4, wnLayers: 4, kernel: 5, dilationRate: 1 },
  sdp: { filterChannels: 192, kernel: 3, ddsLayers: 3, flows: 4, bins: 10 },
  decoder: {
    resblock: "2",
    resblockKernels: [3, 5, 7],
    resblockDilations: [
      [1, 2],
      [2, 6],
      [3, 12],
    ],
    upsampleRates: [8, 8, 4],
    upsampleKernels: [16, 16, 8],
    initialChannels: 256,
  },
} as const;

/**
 * Published speed of a Piper medium voice: rhasspy/piper issue #33 "ONNX model runtime",
 * comment by the author (synesthesiam, 2023-04-10), a single-speaker voice in 3 qualities
 * with onnxruntime (thread count not stated: onnxruntime's default uses every core).
 * https://github.com/rhasspy/piper/issues/33
 */
export const PIPER_MEDIUM_PUBLISHED_RTF = [
  { cpu: "Raspberry Pi 4, 4 GB (4× Cortex-A72)", rtf: 0.803, source: "https://github.com/rhasspy/piper/issues/33" },
  { cpu: "AMD Ryzen 9 5950X (16 cores)", rtf: 0.03, source: "https://github.com/rhasspy/piper/issues/33" },
] as const;

/**
 * Frames per phoneme id in the stand-in. sherpa's Piper tokenizer puts a pad id after
 * every phoneme, so 3 frames per id is ~70 ms per phoneme, about 160 words a minute.
 * espeak-ng's own voice (175 words/minute) takes 2.4 frames per id for the same ids
 * (measured here on 3 sentences). A real Piper voice's durations vary per phoneme; only
 * the per-id parts of the cost (~7 %) depend on this number.
 */
export const FRAMES_PER_ID = 3;

/** Ids per sentence assumed when counting attention (its cost per id grows with length). */
export const TYPICAL_IDS_PER_SENTENCE = 100;

/** Multiply-accumulates per second of output audio, by part of the model. */
export interface MacsPerSecond {
  textEncoder: number;
  durationPredictor: number;
  flow: number;
  decoder: number;
  total: number;
}

const FRAMES_PER_SECOND = PIPER_MEDIUM.sampleRate / PIPER_MEDIUM.hopLength;

function perSecond(perFrame: Omit<MacsPerSecond, "total">): MacsPerSecond {
  const s = Object.fromEntries(Object.entries(perFrame).map(([k, v]) => [k, v * FRAMES_PER_SECOND])) as Omit<MacsPerSecond, "total">;
  return { ...s, total: s.textEncoder + s.durationPredictor + s.flow + s.decoder };
}

/**
 * MACs per second of audio of a real Piper medium voice at inference (vits/models.py
 * SynthesizerTrn.infer: text encoder, stochastic duration predictor in reverse, flow in
 * reverse, HiFi-GAN generator; the posterior encoder is not used), counted from the
 * architecture. Per-id parts are spread over `framesPerId` frames.
 */
export function piperMacs(framesPerId = FRAMES_PER_ID, idsPerSentence = TYPICAL_IDS_PER_SENTENCE): MacsPerSecond {
  const c = PIPER_MEDIUM;
  const H = c.hiddenChannels;
  const dk = H / c.heads;
  const L = idsPerSentence;
  // Per id. Attention: QKᵀ and AV over L keys, plus relative-position logits and values:
  // the window_size=4 embeddings are padded to 2L-1 positions before their matmuls
  // (vits/attentions.py _get_relative_embeddings, _matmul_with_relative_keys/values).
  const attention = c.heads * dk * (2 * L + 2 * (2 * L - 1));
  const layer = 4 * H * H + attention + 2 * H * c.filterChannels * c.encoderKernel;
  const textEncoder = c.layers * layer + H * 2 * c.interChannels;

  // Stochastic duration predictor in reverse: pre/proj 1×1, DDSConv (depthwise k + 1×1 per
  // layer), then 3 ConvFlows (of 4, "remove a useless vflow"), each pre 1→F, DDSConv,
  // proj F→(3·bins−1).
  const F = c.sdp.filterChannels;
  const dds = c.sdp.ddsLayers * (F * c.sdp.kernel + F * F);
  const convFlow = F + dds + F * (3 * c.sdp.bins - 1);
  const durationPredictor = 2 * H * F + dds + (c.sdp.flows - 1) * convFlow;

  // Flow: per frame, 4 residual coupling layers (mean only): pre half→H, WN, post H→half.
  const half = c.interChannels / 2;
  const wn = c.flow.wnLayers * (H * 2 * H * c.flow.kernel) + (c.flow.wnLayers - 1) * H * 2 * H + H * H;
  const flow = c.flow.couplings * (half * H + wn + H * half);

  // Generator, per frame: conv_pre k7; per upsample a transposed conv (Cin·Cout·k per input
  // step) and 3 ResBlock2s (2 convs each) at the new rate; conv_post k7 to 1 channel.
  const d = c.decoder;
  let decoder = c.interChannels * d.initialChannels * 7;
  let ch = d.initialChannels;
  let steps = 1;
  d.upsampleRates.forEach((u, i) => {
    decoder += steps * ch * (ch / 2) * d.upsampleKernels[i];
    ch /= 2;
    steps *= u;
    const taps = d.resblockKernels.reduce((a, k, j) => a + k * d.resblockDilations[j].length, 0);
    decoder += steps * ch * ch * taps;
  });
  decoder += steps * ch * 7;

  return perSecond({ textEncoder: textEncoder / framesPerId, durationPredictor: durationPredictor / framesPerId, flow, decoder });
}

export interface StandInVoice {
  model: Uint8Array;
  tokens: string;
  sampleRate: number;
  /** MACs per second of audio of the emitted graph, counted node by node. */
  macs: MacsPerSecond;
}

/** The same numbers on every machine for a given seed (the GGUF generators' mulberry32). */
const seededUniform = rng;

type Part = keyof Omit<MacsPerSecond, "total">;

/** A 1-D activation (1, C, T) and how many of its time steps make one latent frame. */
interface Seq {
  name: string;
  channels: number;
  stepsPerFrame: number;
}

/**
 * The graph builder for the stand-in: every weighted op is emitted through it, so the
 * MACs it reports are those of the graph ONNX Runtime runs, not a second formula.
 */
class CostedGraph {
  readonly g = new OnnxGraph("piper_medium_cost_standin");
  private readonly macsPerFrame: Record<Part, number> = { textEncoder: 0, durationPredictor: 0, flow: 0, decoder: 0 };
  private readonly random: () => number;
  part: Part = "textEncoder";

  /** `withWeights` false builds the same nodes without weights, only to count them. */
  constructor(seed: number, private readonly withWeights = true) {
    this.random = seededUniform(seed);
  }

  count(macsPerStep: number, stepsPerFrame: number): void {
    this.macsPerFrame[this.part] += macsPerStep * stepsPerFrame;
  }

  macs(): MacsPerSecond {
    return perSecond(this.macsPerFrame);
  }

  /** Uniform weights with standard deviation `std` (He-like scaling keeps activations near 1). */
  weights(dims: number[], std: number): string {
    if (!this.withWeights) return this.g.fresh("weights");
    const n = dims.reduce((a, b) => a * b, 1);
    const w = new Float32Array(n);
    const a = std * Math.sqrt(3);
    for (let i = 0; i < n; i++) w[i] = (this.random() * 2 - 1) * a;
    return this.g.constant("float", dims, w);
  }

  conv(x: Seq, out: number, k: number, opts: { dilation?: number; bias?: boolean; gain?: number } = {}): Seq {
    const d = opts.dilation ?? 1;
    const pad = (k * d - d) / 2;
    const w = this.weights([out, x.channels, k], (opts.gain ?? 1) / Math.sqrt(x.channels * k));
    const inputs = [x.name, w];
    if (opts.bias !== false) inputs.push(this.weights([out], 0.1));
    const y = this.g.node("Conv", inputs, { kernel_shape: [k], dilations: [d], pads: [pad, pad], strides: [1] });
    this.count(out * x.channels * k, x.stepsPerFrame);
    return { name: y, channels: out, stepsPerFrame: x.stepsPerFrame };
  }

  /** HiFi-GAN's upsampling: stride u, kernel k, padding (k−u)/2, so T becomes T·u exactly. */
  convTranspose(x: Seq, out: number, k: number, u: number): Seq {
    const w = this.weights([x.channels, out, k], 1 / Math.sqrt((x.channels * k) / u));
    const p = (k - u) / 2;
    const y = this.g.node("ConvTranspose", [x.name, w, this.weights([out], 0.1)], { kernel_shape: [k], strides: [u], pads: [p, p] });
    this.count(x.channels * out * k, x.stepsPerFrame);
    return { name: y, channels: out, stepsPerFrame: x.stepsPerFrame * u };
  }

  op(type: string, x: Seq, more: string[] = [], attrs = {}): Seq {
    return { ...x, name: this.g.node(type, [x.name, ...more], attrs) };
  }

  add(a: Seq, b: Seq): Seq {
    return { ...a, name: this.g.node("Add", [a.name, b.name]) };
  }

  channels(x: Seq, from: number, to: number): Seq {
    const name = this.g.node("Slice", [x.name, this.g.int64s([from]), this.g.int64s([to]), this.g.int64s([1])]);
    return { name, channels: to - from, stepsPerFrame: x.stepsPerFrame };
  }

  /** LayerNorm over channels of (1, C, T), as VITS's modules.LayerNorm (its gain 1, bias 0). */
  layerNorm(x: Seq): Seq {
    const g = this.g;
    const centred = g.node("Sub", [x.name, g.node("ReduceMean", [x.name], { axes: [1], keepdims: 1 })]);
    const variance = g.node("ReduceMean", [g.node("Mul", [centred, centred])], { axes: [1], keepdims: 1 });
    return { ...x, name: g.node("Div", [centred, g.node("Sqrt", [g.node("Add", [variance, g.scalar(1e-5)])])]) };
  }
}

/** Multi-head self-attention over (1, H, L) ids, then its 1×1 output projection. */
function attention(c: CostedGraph, x: Seq, heads: number, idsPerSentence: number): Seq {
  const g = c.g;
  const H = x.channels;
  const dk = H / heads;
  const qkv = c.conv(x, 3 * H, 1);
  const split = (i: number) => g.node("Reshape", [c.channels(qkv, i * H, (i + 1) * H).name, g.int64s([heads, dk, -1])]); // (heads, dk, L)
  const q = g.node("Transpose", [split(0)], { perm: [0, 2, 1] }); // (heads, L, dk)
  const scores = g.node("Mul", [g.node("MatMul", [q, split(1)]), g.scalar(1 / Math.sqrt(dk))]); // (heads, L, L)
  const p = g.node("Softmax", [scores], { axis: -1 });
  const mixed = g.node("MatMul", [split(2), g.node("Transpose", [p], { perm: [0, 2, 1] })]); // (heads, dk, L)
  c.count(heads * dk * 2 * idsPerSentence, x.stepsPerFrame);
  const merged: Seq = { ...x, name: g.node("Reshape", [mixed, g.int64s([1, H, -1])]) };
  return c.conv(merged, H, 1);
}

/**
 * The stand-in voice: model bytes (~60 MB), tokens (the same symbol table as the tone
 * voice, so sherpa tokenizes text identically) and the counted MACs per second of audio.
 */
export function piperMediumCostVoice(seed = 1): StandInVoice {
  const tokens = toneVoice(PIPER_MEDIUM.sampleRate).tokens;
  const c = new CostedGraph(seed);
  buildStandIn(c, tokens.trim().split("\n").length);
  return {
    model: c.g.toBytes({
      metadata: {
        model_type: "vits",
        comment: "piper (aide stand-in: Piper medium's cost with random weights; speaks noise)",
        language: "English",
        voice: "en-us",
        has_espeak: 1,
        n_speakers: 1,
        sample_rate: PIPER_MEDIUM.sampleRate,
      },
    }),
    tokens,
    sampleRate: PIPER_MEDIUM.sampleRate,
    macs: c.macs(),
  };
}

/** The stand-in's MACs per second of audio, counted from its nodes without making weights. */
export function piperMediumCostMacs(): MacsPerSecond {
  const c = new CostedGraph(0, false);
  buildStandIn(c, 1);
  return c.macs();
}

function buildStandIn(c: CostedGraph, vocab: number): void {
  const cfg = PIPER_MEDIUM;
  const H = cfg.hiddenChannels;
  const g = c.g;

  const ids = g.input("input", "int64", [1, "L"]);
  g.input("input_lengths", "int64", [1]);
  const scales = g.input("scales", "float", [3]); // noise_scale, length_scale, noise_scale_w
  const idStep = 1 / FRAMES_PER_ID;

  // Text encoder: embedding × √H, 6 post-norm transformer layers with conv FFNs, projection.
  c.part = "textEncoder";
  const emb = g.node("Gather", [c.weights([vocab, H], 1), ids], { axis: 0 }); // (1, L, H)
  let x: Seq = { name: g.node("Transpose", [emb], { perm: [0, 2, 1] }), channels: H, stepsPerFrame: idStep };
  for (let i = 0; i < cfg.layers; i++) {
    x = c.layerNorm(c.add(x, attention(c, x, cfg.heads, TYPICAL_IDS_PER_SENTENCE)));
    const ffn = c.conv(c.op("Relu", c.conv(x, cfg.filterChannels, cfg.encoderKernel)), H, cfg.encoderKernel);
    x = c.layerNorm(c.add(x, ffn));
  }
  const stats = c.conv(x, 2 * cfg.interChannels, 1);
  const mean = c.channels(stats, 0, cfg.interChannels);
  const logStd = c.channels(stats, cfg.interChannels, 2 * cfg.interChannels);

  // Duration predictor (computed, then only nudges the latent; see the file's header).
  c.part = "durationPredictor";
  let dp = c.layerNorm(c.op("Relu", c.conv(x, 256, 3)));
  dp = c.layerNorm(c.op("Relu", c.conv(dp, 256, 3)));
  const logDuration = c.conv(dp, 1, 1);

  // Latent prior per id, then each id repeated ceil(FRAMES_PER_ID × length_scale) times.
  const prior = g.node("Add", [
    g.node("Add", [mean.name, g.node("Mul", [g.node("Tanh", [logStd.name]), g.node("Gather", [scales, g.int64s([0], [])], { axis: 0 })])]),
    g.node("Mul", [g.node("Tanh", [logDuration.name]), g.scalar(0.1)]),
  ]); // (1, C, L)
  const lengthScale = g.node("Gather", [scales, g.int64s([1])], { axis: 0 }); // (1)
  const repeats = g.node("Cast", [g.node("Ceil", [g.node("Mul", [lengthScale, g.scalar(FRAMES_PER_ID)])])], { to: 7 });
  const expandTo = g.node("Concat", [g.int64s([1, 1, 1]), repeats], { axis: 0 });
  const expanded = g.node("Expand", [g.node("Unsqueeze", [prior, g.int64s([3])]), expandTo]); // (1, C, L, n)
  let z: Seq = { name: g.node("Reshape", [expanded, g.int64s([1, cfg.interChannels, -1])]), channels: cfg.interChannels, stepsPerFrame: 1 };

  // Flow in reverse: for each coupling, flip the channels, then x1 -= WN(x0).
  c.part = "flow";
  const half = cfg.interChannels / 2;
  const reversed = g.int64s(Array.from({ length: cfg.interChannels }, (_, i) => cfg.interChannels - 1 - i));
  for (let f = 0; f < cfg.flow.couplings; f++) {
    z = { ...z, name: g.node("Gather", [z.name, reversed], { axis: 1 }) };
    const x0 = c.channels(z, 0, half);
    const x1 = c.channels(z, half, cfg.interChannels);
    let h = c.conv(x0, H, 1);
    let skip: Seq | undefined;
    for (let l = 0; l < cfg.flow.wnLayers; l++) {
      const a = c.conv(h, 2 * H, cfg.flow.kernel, { dilation: cfg.flow.dilationRate ** l });
      const acts = { ...h, name: g.node("Mul", [g.node("Tanh", [c.channels(a, 0, H).name]), g.node("Sigmoid", [c.channels(a, H, 2 * H).name])]) };
      const last = l === cfg.flow.wnLayers - 1;
      const rs = c.conv(acts, last ? H : 2 * H, 1);
      const s = last ? rs : c.channels(rs, H, 2 * H);
      skip = skip ? c.add(skip, s) : s;
      if (!last) h = c.add(h, c.channels(rs, 0, H));
    }
    const shift = c.conv(skip as Seq, half, 1, { gain: 0.1 });
    z = { ...z, name: g.node("Concat", [x0.name, g.node("Sub", [x1.name, shift.name])], { axis: 1 }) };
  }

  // HiFi-GAN generator: conv_pre, then per upsample LeakyReLU → ConvTranspose → the mean
  // of 3 ResBlock2s; LeakyReLU → conv_post → tanh.
  c.part = "decoder";
  const d = cfg.decoder;
  let y = c.conv(z, d.initialChannels, 7);
  d.upsampleRates.forEach((u, i) => {
    y = c.convTranspose(c.op("LeakyRelu", y, [], { alpha: 0.1 }), y.channels / 2, d.upsampleKernels[i], u);
    const blocks = d.resblockKernels.map((k, j) => {
      let r = y;
      for (const dil of d.resblockDilations[j]) r = c.add(r, c.conv(c.op("LeakyRelu", r, [], { alpha: 0.1 }), r.channels, k, { dilation: dil, gain: 0.5 }));
      return r;
    });
    const sum = blocks.slice(1).reduce((a, b) => c.add(a, b), blocks[0]);
    y = c.op("Mul", sum, [g.scalar(1 / blocks.length)]);
  });
  const post = c.conv(c.op("LeakyRelu", y, [], { alpha: 0.01 }), 1, 7, { bias: false });
  const wave = g.node("Mul", [g.node("Tanh", [post.name]), g.scalar(0.5)]);
  g.output("output", "float", [1, 1, "S"], wave);
}
