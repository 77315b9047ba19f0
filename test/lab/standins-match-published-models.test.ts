// The full-size stand-ins have the published models' tensors: every name and shape the
// real model's safetensors hold (mapped to GGUF names as llama.cpp's converter maps
// them), the published parameter count, the real vocabulary and chat template, and the
// tensor types llama.cpp's own llama-quantize chose. First run generates them (see
// scripts/models/standins.ts for timings); later runs read the cached files' headers.
// @slow: reads (first run: generates) the full-size stand-in models (about 25 s alone)
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufHeader, readGgufHeader } from "../../scripts/models/gguf/reader";
import { GgmlType, GgufValueType } from "../../scripts/models/gguf/writer";
import { llamaSourceFile } from "../../scripts/models/llama-source";
import {
  ALL_MINILM_L6_V2, ensureStandIn, LLAMA_3_2_3B_INSTRUCT, QWEN2_5_1_5B_INSTRUCT, StandInName, TINYLLAMA_1_1B_CHAT, writeStandIn,
} from "../../scripts/models/standins";

const GENERATE_MS = 30 * 60_000;

/** PyTorch shapes of a Llama/Qwen2 checkpoint's tensors ([out, in]), by Hugging Face name. */
function hfDecoder(c: { hidden_size: number; intermediate_size: number; num_hidden_layers: number; num_attention_heads: number; num_key_value_heads: number; vocab_size: number; tie_word_embeddings: boolean; head_dim?: number }, qkvBias: boolean) {
  const hd = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const [h, q, kv, ff] = [c.hidden_size, c.num_attention_heads * hd, c.num_key_value_heads * hd, c.intermediate_size];
  const t: [string, number[]][] = [["model.embed_tokens.weight", [c.vocab_size, h]], ["model.norm.weight", [h]]];
  if (!c.tie_word_embeddings) t.push(["lm_head.weight", [c.vocab_size, h]]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    t.push(
      [`${p}.input_layernorm.weight`, [h]], [`${p}.post_attention_layernorm.weight`, [h]],
      [`${p}.self_attn.q_proj.weight`, [q, h]], [`${p}.self_attn.k_proj.weight`, [kv, h]], [`${p}.self_attn.v_proj.weight`, [kv, h]],
      [`${p}.self_attn.o_proj.weight`, [h, q]],
      [`${p}.mlp.gate_proj.weight`, [ff, h]], [`${p}.mlp.up_proj.weight`, [ff, h]], [`${p}.mlp.down_proj.weight`, [h, ff]],
    );
    if (qkvBias) t.push([`${p}.self_attn.q_proj.bias`, [q]], [`${p}.self_attn.k_proj.bias`, [kv]], [`${p}.self_attn.v_proj.bias`, [kv]]);
  }
  return t;
}

/** sentence-transformers/all-MiniLM-L6-v2's BertModel tensors (PyTorch shapes). */
function hfBert(c: typeof ALL_MINILM_L6_V2) {
  const [h, ff] = [c.hidden_size, c.intermediate_size];
  const t: [string, number[]][] = [
    ["embeddings.word_embeddings.weight", [c.vocab_size, h]], ["embeddings.position_embeddings.weight", [c.max_position_embeddings, h]],
    ["embeddings.token_type_embeddings.weight", [c.type_vocab_size, h]], ["embeddings.LayerNorm.weight", [h]], ["embeddings.LayerNorm.bias", [h]],
    // The pooler (dense + tanh) is in the checkpoint but unused by sentence-transformers' mean pooling; the converter drops it.
    ["pooler.dense.weight", [h, h]], ["pooler.dense.bias", [h]],
  ];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `encoder.layer.${i}`;
    for (const m of ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]) t.push([`${p}.${m}.weight`, [h, h]], [`${p}.${m}.bias`, [h]]);
    t.push(
      [`${p}.attention.output.LayerNorm.weight`, [h]], [`${p}.attention.output.LayerNorm.bias`, [h]],
      [`${p}.intermediate.dense.weight`, [ff, h]], [`${p}.intermediate.dense.bias`, [ff]],
      [`${p}.output.dense.weight`, [h, ff]], [`${p}.output.dense.bias`, [h]],
      [`${p}.output.LayerNorm.weight`, [h]], [`${p}.output.LayerNorm.bias`, [h]],
    );
  }
  return t;
}

// Hugging Face name → GGUF name, as gguf-py's tensor_mapping.py maps them.
const TO_GGUF: [RegExp, string][] = [
  [/^model\.embed_tokens\.weight$/, "token_embd.weight"], [/^model\.norm\.weight$/, "output_norm.weight"], [/^lm_head\.weight$/, "output.weight"],
  [/^model\.layers\.(\d+)\.input_layernorm\.weight$/, "blk.$1.attn_norm.weight"],
  [/^model\.layers\.(\d+)\.post_attention_layernorm\.weight$/, "blk.$1.ffn_norm.weight"],
  [/^model\.layers\.(\d+)\.self_attn\.q_proj\.(\w+)$/, "blk.$1.attn_q.$2"], [/^model\.layers\.(\d+)\.self_attn\.k_proj\.(\w+)$/, "blk.$1.attn_k.$2"],
  [/^model\.layers\.(\d+)\.self_attn\.v_proj\.(\w+)$/, "blk.$1.attn_v.$2"], [/^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/, "blk.$1.attn_output.weight"],
  [/^model\.layers\.(\d+)\.mlp\.gate_proj\.weight$/, "blk.$1.ffn_gate.weight"], [/^model\.layers\.(\d+)\.mlp\.up_proj\.weight$/, "blk.$1.ffn_up.weight"],
  [/^model\.layers\.(\d+)\.mlp\.down_proj\.weight$/, "blk.$1.ffn_down.weight"],
  [/^embeddings\.word_embeddings\.weight$/, "token_embd.weight"], [/^embeddings\.position_embeddings\.weight$/, "position_embd.weight"],
  [/^embeddings\.token_type_embeddings\.weight$/, "token_types.weight"], [/^embeddings\.LayerNorm\.(\w+)$/, "token_embd_norm.$1"],
  [/^encoder\.layer\.(\d+)\.attention\.self\.query\.(\w+)$/, "blk.$1.attn_q.$2"], [/^encoder\.layer\.(\d+)\.attention\.self\.key\.(\w+)$/, "blk.$1.attn_k.$2"],
  [/^encoder\.layer\.(\d+)\.attention\.self\.value\.(\w+)$/, "blk.$1.attn_v.$2"], [/^encoder\.layer\.(\d+)\.attention\.output\.dense\.(\w+)$/, "blk.$1.attn_output.$2"],
  [/^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(\w+)$/, "blk.$1.attn_output_norm.$2"],
  [/^encoder\.layer\.(\d+)\.intermediate\.dense\.(\w+)$/, "blk.$1.ffn_up.$2"], [/^encoder\.layer\.(\d+)\.output\.dense\.(\w+)$/, "blk.$1.ffn_down.$2"],
  [/^encoder\.layer\.(\d+)\.output\.LayerNorm\.(\w+)$/, "blk.$1.layer_output_norm.$2"],
];

/** GGUF name → dims (innermost first: PyTorch's shape reversed), sorted by name. */
function expectedGguf(hf: [string, number[]][]): [string, number[]][] {
  return hf.filter(([n]) => !n.startsWith("pooler.")).map(([n, shape]): [string, number[]] => {
    const rule = TO_GGUF.find(([re]) => re.test(n));
    if (!rule) throw new Error(`test has no GGUF name for ${n}`);
    return [n.replace(rule[0], rule[1]), [...shape].reverse()];
  }).sort(([a], [b]) => a.localeCompare(b));
}

const actual = (h: GgufHeader): [string, number[]][] => h.tensors.map((t): [string, number[]] => [t.name, t.dims]).sort(([a], [b]) => a.localeCompare(b));
const elements = (h: GgufHeader) => h.tensors.filter((t) => t.name !== "rope_freqs.weight").reduce((s, t) => s + t.dims.reduce((a, b) => a * b, 1), 0);
const typeOf = (h: GgufHeader, name: string) => h.tensors.find((t) => t.name === name)?.type;
const typesOf = (h: GgufHeader, re: RegExp) => new Set(h.tensors.filter((t) => re.test(t.name)).map((t) => t.type));
const md = (h: GgufHeader, key: string) => h.metadata[key]?.value;

async function standIn(name: StandInName) {
  const path = await ensureStandIn(name);
  return { path, h: readGgufHeader(path) };
}

describe("the Qwen2.5-1.5B-Instruct stand-in", () => {
  let h: GgufHeader;
  beforeAll(async () => { ({ h } = await standIn("qwen2.5-1.5b")); }, GENERATE_MS);

  it("has every tensor of the published model, with its shape: q/k/v biases, no output.weight (tied)", () => {
    expect(actual(h)).toEqual(expectedGguf(hfDecoder(QWEN2_5_1_5B_INSTRUCT, true)));
    expect(h.tensors.find((t) => t.name === "output.weight")).toBeUndefined();
    expect(h.tensors.filter((t) => /attn_[qkv]\.bias$/.test(t.name))).toHaveLength(28 * 3);
  });

  it("has the published parameter count (1.54B) and hyperparameters", () => {
    expect(Math.round(elements(h) / 1e7) / 100).toBe(1.54);
    expect(md(h, "general.architecture")).toBe("qwen2");
    expect(md(h, "qwen2.block_count")).toBe(28);
    expect(md(h, "qwen2.embedding_length")).toBe(1536);
    expect(md(h, "qwen2.attention.head_count")).toBe(12);
    expect(md(h, "qwen2.attention.head_count_kv")).toBe(2);
    expect(md(h, "qwen2.feed_forward_length")).toBe(8960);
    expect(md(h, "qwen2.context_length")).toBe(32768);
    expect(md(h, "qwen2.rope.freq_base")).toBe(1_000_000);
    expect(md(h, "qwen2.attention.layer_norm_rms_epsilon")).toBeCloseTo(1e-6, 12);
  });

  it("carries the real Qwen2 tokenizer (151,936 tokens, BPE merges) and the Qwen2.5 template with tools", () => {
    const vocab = readGgufHeader(llamaSourceFile("models/ggml-vocab-qwen2.gguf"));
    expect(md(h, "tokenizer.ggml.tokens")).toHaveLength(151936);
    const tokens = md(h, "tokenizer.ggml.tokens") as string[];
    // Qwen2's 151,646 tokens as they are; Qwen2.5's added tokens where Qwen2 had [PADn].
    expect(tokens.slice(0, 151646)).toEqual((md(vocab, "tokenizer.ggml.tokens") as string[]).slice(0, 151646));
    expect([tokens[151657], tokens[151658], tokens[151659], tokens[151665]]).toEqual(["<tool_call>", "</tool_call>", "<|fim_prefix|>", "[PAD151665]"]);
    const types = md(h, "tokenizer.ggml.token_type") as number[];
    expect([types[151657], types[151659]]).toEqual([4, 3]); // USER_DEFINED (always one token), CONTROL
    expect(md(h, "tokenizer.ggml.merges")).toEqual(md(vocab, "tokenizer.ggml.merges"));
    expect(md(h, "tokenizer.ggml.pre")).toBe("qwen2");
    expect((md(h, "tokenizer.ggml.tokens") as string[])[md(h, "tokenizer.ggml.eos_token_id") as number]).toBe("<|im_end|>");
    expect(md(h, "tokenizer.chat_template")).toBe(readFileSync(llamaSourceFile("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"), "utf8"));
    expect(md(h, "tokenizer.chat_template")).toContain("<tool_call>");
  });

  it("was quantized by llama-quantize to Q4_0: q4_0 matrices, f32 norms and biases, the tied embeddings as the output tensor", () => {
    expect(md(h, "general.file_type")).toBe(2); // LLAMA_FTYPE_MOSTLY_Q4_0
    expect(typesOf(h, /^blk\.\d+\.(attn_[qkv]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/)).toEqual(new Set([GgmlType.Q4_0]));
    expect(typesOf(h, /(norm\.weight|\.bias)$/)).toEqual(new Set([GgmlType.F32]));
    // llama-quant.cpp: with no output.weight, token_embd is quantized as the output
    // tensor, which a Q4_0 file gets as q6_K.
    expect(typeOf(h, "token_embd.weight")).toBe(GgmlType.Q6_K);
  });
});

describe("the Llama 3.2 3B stand-in", () => {
  let h: GgufHeader;
  beforeAll(async () => { ({ h } = await standIn("llama-3.2-3b")); }, GENERATE_MS);

  it("has every tensor of the published model (3.21B parameters, tied) plus llama3 rope factors", () => {
    expect(actual(h).filter(([n]) => n !== "rope_freqs.weight")).toEqual(expectedGguf(hfDecoder(LLAMA_3_2_3B_INSTRUCT, false)));
    expect(h.tensors.find((t) => t.name === "rope_freqs.weight")?.dims).toEqual([64]);
    expect(Math.round(elements(h) / 1e7) / 100).toBe(3.21);
    expect([md(h, "llama.block_count"), md(h, "llama.embedding_length"), md(h, "llama.attention.head_count"), md(h, "llama.attention.head_count_kv")]).toEqual([28, 3072, 24, 8]);
    expect([md(h, "llama.feed_forward_length"), md(h, "llama.rope.freq_base"), md(h, "llama.vocab_size")]).toEqual([8192, 500_000, 128256]);
  });

  it("is Q4_K_M as llama-quantize makes it, with the Llama 3 vocabulary and template", () => {
    expect(md(h, "general.file_type")).toBe(15); // LLAMA_FTYPE_MOSTLY_Q4_K_M
    expect(typesOf(h, /attn_q\.weight$/)).toEqual(new Set([GgmlType.Q4_K]));
    // Q4_K_M gives some layers' attn_v and ffn_down q6_K (llama-quant.cpp's use_more_bits).
    expect(typesOf(h, /ffn_down\.weight$/)).toEqual(new Set([GgmlType.Q4_K, GgmlType.Q6_K]));
    expect(md(h, "tokenizer.ggml.pre")).toBe("llama-bpe");
    expect(md(h, "tokenizer.ggml.tokens")).toHaveLength(128256);
    expect((md(h, "tokenizer.ggml.tokens") as string[])[md(h, "tokenizer.ggml.eos_token_id") as number]).toBe("<|eot_id|>");
    expect(md(h, "tokenizer.chat_template")).toContain("<|start_header_id|>");
  });
});

describe("the TinyLlama 1.1B Chat stand-in", () => {
  let h: GgufHeader;
  beforeAll(async () => { ({ h } = await standIn("tinyllama-1.1b")); }, GENERATE_MS);

  it("has every tensor of the published model (1.1B parameters, untied output) in Q4_0, with Llama 2's SentencePiece vocabulary", () => {
    expect(actual(h)).toEqual(expectedGguf(hfDecoder(TINYLLAMA_1_1B_CHAT, false)));
    expect(Math.round(elements(h) / 1e8) / 10).toBe(1.1);
    expect([md(h, "llama.block_count"), md(h, "llama.embedding_length"), md(h, "llama.attention.head_count_kv"), md(h, "llama.feed_forward_length")]).toEqual([22, 2048, 4, 5632]);
    expect(md(h, "general.file_type")).toBe(2);
    expect(typeOf(h, "token_embd.weight")).toBe(GgmlType.Q4_0);
    expect(typeOf(h, "output.weight")).toBe(GgmlType.Q6_K);
    expect(md(h, "tokenizer.ggml.model")).toBe("llama");
    expect(md(h, "tokenizer.ggml.tokens")).toHaveLength(32000);
  });
});

describe("the all-MiniLM-L6-v2 stand-in", () => {
  let path: string;
  let h: GgufHeader;
  beforeAll(async () => { ({ path, h } = await standIn("minilm-l6")); }, GENERATE_MS);

  it("has every tensor of the published BERT model (22.7M parameters with the pooler the converter drops) as llama.cpp's bert loader names them", () => {
    expect(actual(h)).toEqual(expectedGguf(hfBert(ALL_MINILM_L6_V2)));
    const pooler = 384 * 384 + 384;
    expect(Math.round((elements(h) + pooler) / 1e5) / 10).toBe(22.7);
    expect([md(h, "general.architecture"), md(h, "bert.block_count"), md(h, "bert.embedding_length"), md(h, "bert.context_length")]).toEqual(["bert", 6, 384, 512]);
    expect(md(h, "bert.pooling_type")).toBe(1); // mean
    expect(md(h, "tokenizer.ggml.model")).toBe("bert");
    expect(md(h, "tokenizer.ggml.tokens")).toHaveLength(30522);
    expect(typesOf(h, /^blk\.\d+\.(attn_[qkv]|attn_output|ffn_up|ffn_down)\.weight$/)).toEqual(new Set([GgmlType.Q8_0]));
    expect(h.metadata["tokenizer.ggml.token_type"]).toMatchObject({ itemType: GgufValueType.INT32 });
  });

  it("is the same bytes every time it is written, and another seed gives other bytes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aide-standin-"));
    const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
    await writeStandIn("minilm-l6", join(dir, "again.gguf"), GgmlType.Q8_0);
    expect(sha(join(dir, "again.gguf"))).toBe(sha(path));
    await writeStandIn("minilm-l6", join(dir, "other.gguf"), GgmlType.Q8_0, 7);
    expect(sha(join(dir, "other.gguf"))).not.toBe(sha(path));
  });
});
