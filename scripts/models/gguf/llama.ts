// Generates llama-architecture GGUF models with random, seeded weights: tiny ones for
// tests (llama.cpp and node-llama-cpp load and generate from them; the answers are
// nonsense) and a few-hundred-MB one for memory-bound benchmarks.
import { GgmlType, gguf, GgufValue, TensorSpec, writeGguf } from "./writer";

export interface LlamaShape {
  name: string;
  embedding: number;   // n_embd
  layers: number;      // block_count
  heads: number;       // attention.head_count
  kvHeads: number;     // attention.head_count_kv
  feedForward: number; // feed_forward_length
  context: number;     // context_length
  weightType: GgmlType;
  seed: number;
  /** Set for embedding models: llama.cpp then pools without `--pooling`. */
  pooling?: "mean";
}

// The chat template llama-server applies with --jinja (and node-llama-cpp detects as ChatML).
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const SPACE = "\u2581"; // SentencePiece's visible space
const WORDS = (
  "the a an is are was I you we they it he she this that and or but so to of in on at " +
  "for with from by as not no yes ok okay hello hi there here what where when why how " +
  "can do does did will would could should see look like know think say tell ask answer " +
  "person people cup chair table book phone dog cat car room light day time today now " +
  "good nice fine great sure thanks please sorry maybe one two three four five many some"
).split(" ");
const PUNCT = [",", ".", "?", "!", ":", ";", "'", "\"", "-", "(", ")"];

type TokenType = 1 | 2 | 3 | 6; // normal, unknown, control, byte (llama_token_type)
export interface Vocab { tokens: string[]; scores: number[]; types: TokenType[]; ids: Record<string, number> }

/** A SentencePiece ("llama") vocabulary with byte fallback: every byte has a token, so
 * any text and any grammar is representable; ChatML's markers are control tokens. */
export function buildVocab(): Vocab {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: TokenType[] = [];
  const add = (t: string, type: TokenType, score = 0) => { tokens.push(t); types.push(type); scores.push(score); };
  add("<unk>", 2);
  add("<s>", 3);
  add("</s>", 3);
  add("<|im_start|>", 3);
  add("<|im_end|>", 3);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, 6);
  // Prefix-closed, with scores rising with length: llama.cpp's SPM tokenizer merges the
  // highest-scoring adjacent pair whose concatenation is a token (leftmost on ties), so
  // every prefix of a word must exist for the merges to climb to the whole word. Then
  // the text of any generated answer tokenizes back to the same tokens, which is what
  // lets llama-server's prompt cache reuse the previous reply on the next turn.
  const pieces = new Set<string>([SPACE]);
  for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") pieces.add(c);
  for (const p of PUNCT) pieces.add(p);
  for (const w of WORDS) {
    for (const word of [SPACE + w, w]) {
      for (let n = 2; n <= word.length; n++) pieces.add(word.slice(0, n));
    }
  }
  for (const p of pieces) add(p, 1, -100 + p.length);
  const ids: Record<string, number> = {};
  tokens.forEach((t, i) => { ids[t] = i; });
  return { tokens, scores, types, ids };
}

/** mulberry32: small, fast, seeded; the same seed gives the same model bytes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a tensor name: each tensor gets its own stream from one model seed. */
export function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Uniform values in [-scale, scale); `rowScale(row)` lets some rows be louder. */
export function randomValues(seed: number, rowLen: number, scale: number, rowScale?: (row: number) => number) {
  if (!rowScale) return uniformValues(seed, scale);
  const next = rng(seed);
  let pos = 0;
  return (count: number) => {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++, pos++) {
      const s = rowScale ? scale * rowScale(Math.floor(pos / rowLen)) : scale;
      out[i] = (next() * 2 - 1) * s;
    }
    return out;
  };
}

/** randomValues without row scales: mulberry32 inlined with its state in a local, the
 * same numbers ~3x faster (full-size stand-ins draw billions of them). */
function uniformValues(seed: number, scale: number) {
  let state = seed >>> 0;
  return (count: number) => {
    const out = new Float32Array(count);
    let a = state;
    for (let i = 0; i < count; i++) {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
    }
    state = a;
    return out;
  };
}

export const ones = (count: number): Float32Array => new Float32Array(count).fill(1);

export function llamaTensors(shape: LlamaShape, vocab: Vocab): TensorSpec[] {
  const { embedding: e, feedForward: ff, weightType } = shape;
  const headDim = e / shape.heads;
  const kv = headDim * shape.kvHeads;
  const nVocab = vocab.tokens.length;
  const w = (name: string, dims: number[], scale: number, rowScale?: (row: number) => number): TensorSpec => ({
    name, dims, type: weightType, values: randomValues(shape.seed ^ hash(name), dims[0], scale, rowScale),
  });
  const norm = (name: string): TensorSpec => ({ name, dims: [e], type: GgmlType.F32, values: ones });
  // Greedy decoding emits only whole words and clause punctuation: every other row
  // (bytes, control tokens incl. EOS, single letters, word prefixes) is zero. So the
  // nonsense comes out as spaced words in clauses (what the TTS clause splitter looks
  // for), it round-trips through the tokenizer, and generation never stops by itself:
  // a test's max_tokens decides how long an answer is.
  const loud = new Set([...WORDS.map((w) => SPACE + w)]);
  const outputRow = (row: number) => {
    const t = vocab.tokens[row];
    if (vocab.types[row] !== 1) return 0;
    if (t === "," || t === "." || t === "?") return 5;
    return loud.has(t) ? 6 : 0;
  };
  const tensors: TensorSpec[] = [w("token_embd.weight", [e, nVocab], 1)];
  const proj = 1 / Math.sqrt(e);
  for (let l = 0; l < shape.layers; l++) {
    const b = `blk.${l}`;
    tensors.push(
      norm(`${b}.attn_norm.weight`),
      w(`${b}.attn_q.weight`, [e, e], proj),
      w(`${b}.attn_k.weight`, [e, kv], proj),
      w(`${b}.attn_v.weight`, [e, kv], proj),
      w(`${b}.attn_output.weight`, [e, e], proj),
      norm(`${b}.ffn_norm.weight`),
      w(`${b}.ffn_gate.weight`, [e, ff], proj),
      w(`${b}.ffn_up.weight`, [e, ff], proj),
      w(`${b}.ffn_down.weight`, [ff, e], 1 / Math.sqrt(ff)),
    );
  }
  tensors.push(norm("output_norm.weight"), w("output.weight", [e, nVocab], proj, outputRow));
  return tensors;
}

export function llamaMetadata(shape: LlamaShape, vocab: Vocab): Record<string, GgufValue> {
  const md: Record<string, GgufValue> = {
    "general.architecture": gguf.str("llama"),
    "general.name": gguf.str(shape.name),
    "general.file_type": gguf.u32(shape.weightType === GgmlType.F32 ? 0 : shape.weightType === GgmlType.Q4_0 ? 2 : 7),
    "llama.context_length": gguf.u32(shape.context),
    "llama.embedding_length": gguf.u32(shape.embedding),
    "llama.block_count": gguf.u32(shape.layers),
    "llama.feed_forward_length": gguf.u32(shape.feedForward),
    "llama.attention.head_count": gguf.u32(shape.heads),
    "llama.attention.head_count_kv": gguf.u32(shape.kvHeads),
    "llama.rope.dimension_count": gguf.u32(shape.embedding / shape.heads),
    "llama.rope.freq_base": gguf.f32(10000),
    "llama.attention.layer_norm_rms_epsilon": gguf.f32(1e-5),
    "llama.vocab_size": gguf.u32(vocab.tokens.length),
    "tokenizer.ggml.model": gguf.str("llama"),
    "tokenizer.ggml.tokens": gguf.strings(vocab.tokens),
    "tokenizer.ggml.scores": gguf.f32s(vocab.scores),
    "tokenizer.ggml.token_type": gguf.i32s(vocab.types),
    "tokenizer.ggml.unknown_token_id": gguf.u32(vocab.ids["<unk>"]),
    "tokenizer.ggml.bos_token_id": gguf.u32(vocab.ids["<s>"]),
    "tokenizer.ggml.eos_token_id": gguf.u32(vocab.ids["<|im_end|>"]),
    "tokenizer.ggml.eot_token_id": gguf.u32(vocab.ids["<|im_end|>"]),
    "tokenizer.ggml.padding_token_id": gguf.u32(vocab.ids["<unk>"]),
    "tokenizer.ggml.add_bos_token": gguf.bool(true),
    "tokenizer.ggml.add_eos_token": gguf.bool(false),
    // true makes llama-server answer HTTP 400 to chat completions with a JSON schema.
    "tokenizer.ggml.add_space_prefix": gguf.bool(false),
    "tokenizer.chat_template": gguf.str(CHATML_TEMPLATE),
  };
  if (shape.pooling === "mean") md["llama.pooling_type"] = gguf.u32(1);
  return md;
}

export async function writeLlamaModel(path: string, shape: LlamaShape): Promise<void> {
  const vocab = buildVocab();
  await writeGguf(path, llamaMetadata(shape, vocab), llamaTensors(shape, vocab));
}
