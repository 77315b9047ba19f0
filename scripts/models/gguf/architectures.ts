// Full-size GGUF tensor layouts and metadata for the architectures the stand-in models
// copy (llama.cpp's "llama", "qwen2" and "bert"), from a model's published Hugging Face
// config.json. Weights are random and seeded; the tensor names, shapes and the keys
// are what llama.cpp's converter (convert_hf_to_gguf.py) writes for the real model and
// what its loaders (src/models/{llama,qwen2,bert}.cpp, src/llama-arch.cpp) expect.
import { hash, ones, randomValues } from "./llama";
import { GgmlType, gguf, GgufValue, TensorSpec } from "./writer";

/** The fields of a decoder's config.json that decide its GGUF (Hugging Face names). */
export interface DecoderConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
  vocab_size: number;
  head_dim?: number;
  /** Llama 3.1/3.2's "llama3" rope scaling: the converter turns it into rope_freqs.weight. */
  rope_scaling?: { rope_type: "llama3"; factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number };
}

/** The fields of a BERT encoder's config.json that decide its GGUF. */
export interface BertConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  vocab_size: number;
  layer_norm_eps: number;
}

export interface Weights {
  /** Type of the 2-D weight matrices; 1-D norms and biases are f32 as the converter writes them. */
  matrices: GgmlType;
  seed: number;
  /** Louder or quieter token embedding rows (by token id): with tied embeddings they are
   * also the output head, so this decides which tokens random weights say. */
  embeddingRowScale?: (row: number) => number;
}

/** 1 / sqrt(fan-in) keeps activations bounded through dozens of random layers. */
const fanIn = (n: number) => 1 / Math.sqrt(n);

function tensorMaker(w: Weights) {
  return {
    matrix: (name: string, dims: number[], scale = fanIn(dims[0])): TensorSpec => ({
      name, dims, type: w.matrices, values: randomValues(w.seed ^ hash(name), dims[0], scale),
    }),
    /** Biases: small, random (Qwen2's q/k/v biases are real, non-zero parameters). */
    bias: (name: string, n: number): TensorSpec => ({ name, dims: [n], type: GgmlType.F32, values: randomValues(w.seed ^ hash(name), n, 0.02) }),
    ones: (name: string, n: number): TensorSpec => ({ name, dims: [n], type: GgmlType.F32, values: ones }),
    zeros: (name: string, n: number): TensorSpec => ({ name, dims: [n], type: GgmlType.F32, values: (count) => new Float32Array(count) }),
  };
}

export const headDim = (c: DecoderConfig): number => c.head_dim ?? c.hidden_size / c.num_attention_heads;

/** Llama 3's rope frequency factors, computed as convert_hf_to_gguf.py's LlamaModel does
 * (generate_extra_tensors): 1 for short wavelengths, `factor` for long, smooth between. */
export function llama3RopeFactors(c: DecoderConfig): Float32Array {
  const s = c.rope_scaling;
  if (!s) throw new Error("llama3RopeFactors needs a config with rope_scaling (rope_type llama3)");
  const dim = headDim(c);
  const old = s.original_max_position_embeddings;
  const lowWavelen = old / s.low_freq_factor;
  const highWavelen = old / s.high_freq_factor;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = 1 / c.rope_theta ** ((2 * i) / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

export type DecoderArch = "llama" | "qwen2";

/** Tensors of a llama or qwen2 decoder, layer by layer in order (llama-quantize counts
 * layers as it meets them to decide which ones get more bits). */
export function decoderTensors(arch: DecoderArch, c: DecoderConfig, w: Weights): TensorSpec[] {
  const t = tensorMaker(w);
  const e = c.hidden_size;
  const q = c.num_attention_heads * headDim(c);
  const kv = c.num_key_value_heads * headDim(c);
  const ff = c.intermediate_size;
  const tensors: TensorSpec[] = [];
  if (c.rope_scaling) {
    const factors = llama3RopeFactors(c);
    tensors.push({ name: "rope_freqs.weight", dims: [factors.length], type: GgmlType.F32, values: () => factors });
  }
  // Embeddings of unit scale: row lookups, not a projection.
  tensors.push(w.embeddingRowScale
    ? { name: "token_embd.weight", dims: [e, c.vocab_size], type: w.matrices, values: randomValues(w.seed ^ hash("token_embd.weight"), e, 1, w.embeddingRowScale) }
    : t.matrix("token_embd.weight", [e, c.vocab_size], 1));
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const b = `blk.${l}`;
    tensors.push(t.ones(`${b}.attn_norm.weight`, e), t.matrix(`${b}.attn_q.weight`, [e, q]));
    // Qwen2 has biases on q/k/v (modeling_qwen2.py: q_proj/k_proj/v_proj bias=True), not on o_proj.
    if (arch === "qwen2") tensors.push(t.bias(`${b}.attn_q.bias`, q));
    tensors.push(t.matrix(`${b}.attn_k.weight`, [e, kv]));
    if (arch === "qwen2") tensors.push(t.bias(`${b}.attn_k.bias`, kv));
    tensors.push(t.matrix(`${b}.attn_v.weight`, [e, kv]));
    if (arch === "qwen2") tensors.push(t.bias(`${b}.attn_v.bias`, kv));
    tensors.push(
      t.matrix(`${b}.attn_output.weight`, [q, e]),
      t.ones(`${b}.ffn_norm.weight`, e),
      t.matrix(`${b}.ffn_gate.weight`, [e, ff]),
      t.matrix(`${b}.ffn_up.weight`, [e, ff]),
      t.matrix(`${b}.ffn_down.weight`, [ff, e]),
    );
  }
  tensors.push(t.ones("output_norm.weight", e));
  // Tied embeddings have no output.weight: llama.cpp then multiplies by token_embd.
  if (!c.tie_word_embeddings) tensors.push(t.matrix("output.weight", [e, c.vocab_size]));
  return tensors;
}

/** llama_ftype of a file whose matrices are all one type (llama.h). */
export function fileType(matrices: GgmlType): number {
  switch (matrices) {
    case GgmlType.F32: return 0;
    case GgmlType.F16: return 1;
    case GgmlType.Q4_0: return 2;
    case GgmlType.Q8_0: return 7;
    default: throw new Error(`no single-type llama_ftype for ggml type ${matrices} — write q8_0 and let llama-quantize make it`);
  }
}

export function decoderMetadata(arch: DecoderArch, c: DecoderConfig, name: string, matrices: GgmlType): Record<string, GgufValue> {
  const md: Record<string, GgufValue> = {
    "general.architecture": gguf.str(arch),
    "general.name": gguf.str(name),
    "general.file_type": gguf.u32(fileType(matrices)),
    [`${arch}.block_count`]: gguf.u32(c.num_hidden_layers),
    [`${arch}.context_length`]: gguf.u32(c.max_position_embeddings),
    [`${arch}.embedding_length`]: gguf.u32(c.hidden_size),
    [`${arch}.feed_forward_length`]: gguf.u32(c.intermediate_size),
    [`${arch}.attention.head_count`]: gguf.u32(c.num_attention_heads),
    [`${arch}.attention.head_count_kv`]: gguf.u32(c.num_key_value_heads),
    [`${arch}.rope.freq_base`]: gguf.f32(c.rope_theta),
    [`${arch}.attention.layer_norm_rms_epsilon`]: gguf.f32(c.rms_norm_eps),
  };
  if (arch === "llama") {
    // The converter writes these for llama (LlamaModel.set_vocab/set_gguf_parameters).
    md["llama.vocab_size"] = gguf.u32(c.vocab_size);
    md["llama.rope.dimension_count"] = gguf.u32(headDim(c));
  }
  if (c.head_dim !== undefined) {
    md[`${arch}.attention.key_length`] = gguf.u32(c.head_dim);
    md[`${arch}.attention.value_length`] = gguf.u32(c.head_dim);
  }
  return md;
}

/** Tensors of a BERT encoder as llama.cpp's bert loader names them (src/models/bert.cpp). */
export function bertTensors(c: BertConfig, w: Weights): TensorSpec[] {
  const t = tensorMaker(w);
  const e = c.hidden_size;
  const ff = c.intermediate_size;
  // Position and token-type embeddings are never quantized (llama-quant.cpp skips
  // position_embd and token_types): a q8_0 file made from the f16 conversion keeps the
  // position table f16. token_types must be f32: bert.cpp adds a view of its row 0 to
  // the f32 embeddings, and ggml's CPU add aborts on f32 + f16 (seen: "binary_op:
  // unsupported types: dst: f32, src0: f32, src1: f16").
  const table = (name: string, rows: number, type: GgmlType): TensorSpec => ({ ...t.matrix(name, [e, rows], 1), type });
  const tensors: TensorSpec[] = [
    t.matrix("token_embd.weight", [e, c.vocab_size], 1),
    table("position_embd.weight", c.max_position_embeddings, GgmlType.F16),
    table("token_types.weight", c.type_vocab_size, GgmlType.F32),
    t.ones("token_embd_norm.weight", e), t.zeros("token_embd_norm.bias", e),
  ];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const b = `blk.${l}`;
    for (const p of ["attn_q", "attn_k", "attn_v", "attn_output"]) tensors.push(t.matrix(`${b}.${p}.weight`, [e, e]), t.bias(`${b}.${p}.bias`, e));
    tensors.push(
      t.ones(`${b}.attn_output_norm.weight`, e), t.zeros(`${b}.attn_output_norm.bias`, e),
      t.matrix(`${b}.ffn_up.weight`, [e, ff]), t.bias(`${b}.ffn_up.bias`, ff),
      t.matrix(`${b}.ffn_down.weight`, [ff, e]), t.bias(`${b}.ffn_down.bias`, e),
      t.ones(`${b}.layer_output_norm.weight`, e), t.zeros(`${b}.layer_output_norm.bias`, e),
    );
  }
  return tensors;
}

/** llama_pooling_type (llama.h): what a sentence embedder's pooling layer does. */
export const POOLING_MEAN = 1;

export function bertMetadata(c: BertConfig, name: string, matrices: GgmlType): Record<string, GgufValue> {
  return {
    "general.architecture": gguf.str("bert"),
    "general.name": gguf.str(name),
    "general.file_type": gguf.u32(fileType(matrices)),
    "bert.block_count": gguf.u32(c.num_hidden_layers),
    "bert.context_length": gguf.u32(c.max_position_embeddings),
    "bert.embedding_length": gguf.u32(c.hidden_size),
    "bert.feed_forward_length": gguf.u32(c.intermediate_size),
    "bert.attention.head_count": gguf.u32(c.num_attention_heads),
    "bert.attention.layer_norm_epsilon": gguf.f32(c.layer_norm_eps),
    "bert.attention.causal": gguf.bool(false),
    // sentence-transformers' MiniLM mean-pools (its 1_Pooling/config.json); the converter
    // writes that here, so llama-server pools by mean even without --pooling.
    "bert.pooling_type": gguf.u32(POOLING_MEAN),
    "tokenizer.ggml.token_type_count": gguf.u32(c.type_vocab_size),
  };
}
