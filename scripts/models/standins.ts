// Full-size stand-ins for the real models: the published architecture (every tensor's
// name, shape and, after llama.cpp's own llama-quantize, type), the real tokenizer and
// chat template, and random seeded weights. They cost what the real models cost to
// load and run — the lab that emulates a Core 2 cluster measures with them — while
// their answers are nonsense. Each is written once into $AIDE_CACHE/models/generated;
// the file name carries the generator version and the llama.cpp commit whose
// vocabulary, template and llama-quantize went into it.
//
//   npx ts-node --transpile-only scripts/models/standins.ts [qwen2.5-1.5b|llama-3.2-3b|tinyllama-1.1b|minilm-l6]...
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { aideCache } from "../../lib/cache";
import { llamaBinary } from "../../lib/llama";
import { BertConfig, bertMetadata, bertTensors, DecoderArch, DecoderConfig, decoderMetadata, decoderTensors } from "./gguf/architectures";
import { GgufHeader, readGgufHeader } from "./gguf/reader";
import { GgmlType, ggmlTypeName, gguf, GgufValue, GgufValueType, TensorSpec, writeGguf } from "./gguf/writer";
import { llamaSourceCommit, llamaSourceFile } from "./llama-source";

/** Bump when a change here changes the bytes of a stand-in. */
const STANDIN_VERSION = 1;

// ---- The published configs (config.json of each model on Hugging Face) ----

/** https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct/blob/main/config.json */
export const QWEN2_5_1_5B_INSTRUCT = {
  hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2,
  max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1_000_000, tie_word_embeddings: true, vocab_size: 151936,
} as const satisfies DecoderConfig;

/** https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct/blob/main/config.json */
export const LLAMA_3_2_3B_INSTRUCT = {
  hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 28, num_attention_heads: 24, num_key_value_heads: 8,
  head_dim: 128, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500_000, tie_word_embeddings: true,
  vocab_size: 128256,
  rope_scaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
} as const satisfies DecoderConfig;

/** https://huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-v1.0/blob/main/config.json */
export const TINYLLAMA_1_1B_CHAT = {
  hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4,
  max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10_000, tie_word_embeddings: false, vocab_size: 32000,
} as const satisfies DecoderConfig;

/** https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/blob/main/config.json */
export const ALL_MINILM_L6_V2 = {
  hidden_size: 384, intermediate_size: 1536, num_hidden_layers: 6, num_attention_heads: 12, max_position_embeddings: 512,
  type_vocab_size: 2, vocab_size: 30522, layer_norm_eps: 1e-12,
} as const satisfies BertConfig;

/** TinyLlama-1.1B-Chat-v1.0's chat template (its tokenizer_config.json "chat_template"): Zephyr style. */
const TINYLLAMA_CHAT_TEMPLATE =
  "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n" +
  "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n" +
  "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n" +
  "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

/** llama_token_type (llama.h) of added tokens: what convert_hf_to_gguf.py gives them. */
const CONTROL = 3, USER_DEFINED = 4;
type AddedToken = { id: number; text: string; type: typeof CONTROL | typeof USER_DEFINED };

/** Qwen2.5's added tokens, which llama.cpp's ggml-vocab-qwen2.gguf (made from Qwen2)
 * still holds as [PADn] placeholders: Qwen2.5-1.5B-Instruct's tokenizer_config.json
 * "added_tokens_decoder". The converter makes <|...|> CONTROL and the rest (<tool_call>,
 * </tool_call>) USER_DEFINED, which llama.cpp always tokenizes as one token. */
const QWEN2_5_ADDED_TOKENS: AddedToken[] = [
  "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
  "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
  "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
].map((text, i) => ({ id: 151646 + i, text, type: text.startsWith("<|") ? CONTROL : USER_DEFINED }));

/** Llama 3.1/3.2's special tokens where llama.cpp's ggml-vocab-llama-bpe.gguf (Llama 3)
 * has reserved ones: 128004, 128008 and 128010 got names, and the remaining reserved
 * tokens were renumbered from 0 (Llama-3.2-3B-Instruct's tokenizer_config.json). */
function llama3_2AddedTokens(): AddedToken[] {
  const named: Record<number, string> = { 128004: "<|finetune_right_pad_id|>", 128008: "<|eom_id|>", 128010: "<|python_tag|>" };
  const out: AddedToken[] = [];
  let reserved = 0;
  for (const id of [128002, 128003, 128004, 128005, 128008, 128010]) {
    out.push({ id, text: named[id] ?? `<|reserved_special_token_${reserved++}|>`, type: CONTROL });
  }
  for (let id = 128011; id < 128256; id++) out.push({ id, text: `<|reserved_special_token_${reserved++}|>`, type: CONTROL });
  return out;
}

/** What llama-quantize is asked for; "Q8_0" is written directly by our writer. */
type Quantization = "Q4_0" | "Q4_K_M" | "Q8_0";

interface StandInBase {
  /** The real model it stands in for. */
  stands: string;
  /** A llama.cpp source file holding the real vocabulary (all tokenizer.* keys are copied). */
  vocabulary: string;
  /** Special tokens the instruct model ends a turn with, where the vocabulary file (made
   * from the base model) names another: looked up by text, so a wrong one fails loudly. */
  eosToken?: string;
  addBos?: boolean;
  /** Tokens the model's own tokenizer has where the vocabulary file has others. */
  addedTokens?: AddedToken[];
  chatTemplate?: { sourceFile: string } | { text: string };
  quantization: Quantization;
  seed: number;
  /** Random weights favour whatever tokens happen to be loud — for the Qwen stand-in, the
   * newline — and a voice agent fed newlines says nothing. Set: English word tokens
   * ("Ġword") get 4x louder embedding rows (tied: the output head too), so greedy output
   * is spaced words the TTS speaks in 8-word clauses. Same shapes and types, same cost. */
  speaksWords?: boolean;
  /** Bumped when one stand-in's bytes change, so only that one is made again. */
  revision?: number;
}
interface DecoderStandIn extends StandInBase { arch: DecoderArch; config: DecoderConfig }
interface BertStandIn extends StandInBase { arch: "bert"; config: BertConfig }
type StandIn = DecoderStandIn | BertStandIn;

export const STANDINS = {
  // The catalog's LLM (bartowski's Qwen2.5-1.5B-Instruct-Q4_0.gguf), quantized the way a
  // plain `llama-quantize ... Q4_0` quantizes it.
  "qwen2.5-1.5b": {
    stands: "Qwen2.5-1.5B-Instruct Q4_0", arch: "qwen2", config: QWEN2_5_1_5B_INSTRUCT,
    // Qwen2's vocabulary is Qwen2.5's (151,643 BPE tokens + specials, padded to 151,936).
    vocabulary: "models/ggml-vocab-qwen2.gguf",
    // Qwen2.5-Instruct ends turns with <|im_end|> (generation_config.json eos_token_id
    // 151645) and adds no BOS; the vocab file carries the base model's <|endoftext|>.
    eosToken: "<|im_end|>", addBos: false, addedTokens: QWEN2_5_ADDED_TOKENS,
    // Every Qwen2.5 Instruct size ships this same template (with tools, <tool_call>).
    chatTemplate: { sourceFile: "models/templates/Qwen-Qwen2.5-7B-Instruct.jinja" },
    quantization: "Q4_0", seed: 1525, speaksWords: true, revision: 4,
  },
  // The published run we calibrate against: Ollama's llama3.2:3b, which is Q4_K_M.
  "llama-3.2-3b": {
    stands: "Llama-3.2-3B-Instruct Q4_K_M", arch: "llama", config: LLAMA_3_2_3B_INSTRUCT,
    vocabulary: "models/ggml-vocab-llama-bpe.gguf",
    eosToken: "<|eot_id|>", // the Instruct model's tokenizer_config.json eos_token
    addedTokens: llama3_2AddedTokens(),
    chatTemplate: { sourceFile: "models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja" },
    quantization: "Q4_K_M", seed: 323,
  },
  // Ollama's tinyllama (TinyLlama-1.1B-Chat-v1.0), Q4_0 by default.
  "tinyllama-1.1b": {
    stands: "TinyLlama-1.1B-Chat-v1.0 Q4_0", arch: "llama", config: TINYLLAMA_1_1B_CHAT,
    vocabulary: "models/ggml-vocab-llama-spm.gguf", // Llama 2's 32,000-token SentencePiece vocabulary, which TinyLlama uses
    chatTemplate: { text: TINYLLAMA_CHAT_TEMPLATE },
    quantization: "Q4_0", seed: 11,
  },
  // The embeddings model, q8_0: the catalog's file is Q4_K_M, but 384-wide rows do not
  // fit Q4_K's 256-value blocks, so llama-quantize turns most of it into q5_0 and the
  // rest into q4_K/q6_K — block formats of 4.5–8.5 bits whose cost q8_0 (also a
  // 32-value block format) matches far better than f16 does: f16 matrices on a CPU
  // without F16C are converted value by value, which would overstate the cost.
  "minilm-l6": {
    stands: "all-MiniLM-L6-v2 (q8_0)", arch: "bert", config: ALL_MINILM_L6_V2,
    vocabulary: "models/ggml-vocab-bert-bge.gguf", // BERT's uncased WordPiece vocabulary (30,522), which MiniLM uses
    quantization: "Q8_0", seed: 6,
  },
} satisfies Record<string, StandIn>;

export type StandInName = keyof typeof STANDINS;
export const STANDIN_NAMES = Object.keys(STANDINS) as StandInName[];

function spec(name: string): StandIn {
  if (!(name in STANDINS)) throw new Error(`unknown stand-in '${name}': choose from ${STANDIN_NAMES.join(", ")}`);
  return STANDINS[name as StandInName];
}

export function standInPath(name: StandInName): string {
  const s = spec(name);
  return aideCache("models", "generated", `${name}-standin-v${STANDIN_VERSION}${s.revision ? `.${s.revision}` : ""}-${llamaSourceCommit().slice(0, 12)}-${s.quantization.toLowerCase()}.gguf`);
}

/** Every tokenizer.* key of the vocabulary file, with the stand-in's overrides. */
function tokenizerMetadata(s: StandIn): Record<string, GgufValue> {
  const path = llamaSourceFile(s.vocabulary);
  const vocab = readGgufHeader(path);
  const md: Record<string, GgufValue> = {};
  for (const [k, v] of Object.entries(vocab.metadata)) if (k.startsWith("tokenizer.")) md[k] = v;
  const tokens = md["tokenizer.ggml.tokens"];
  if (!tokens || tokens.type !== GgufValueType.ARRAY || tokens.itemType !== GgufValueType.STRING) throw new Error(`${path} has no tokenizer.ggml.tokens`);
  if (tokens.value.length !== s.config.vocab_size) {
    throw new Error(`${path} holds ${tokens.value.length} tokens but ${s.stands} has ${s.config.vocab_size} — pick the vocabulary file of this model family in STANDINS`);
  }
  if (s.addedTokens) {
    const types = md["tokenizer.ggml.token_type"];
    if (!types || types.type !== GgufValueType.ARRAY || types.itemType === GgufValueType.STRING || types.itemType === GgufValueType.BOOL) {
      throw new Error(`${path} has no numeric tokenizer.ggml.token_type`);
    }
    const text = [...tokens.value];
    const type = [...types.value];
    for (const t of s.addedTokens) { text[t.id] = t.text; type[t.id] = t.type; }
    md["tokenizer.ggml.tokens"] = gguf.strings(text);
    md["tokenizer.ggml.token_type"] = gguf.numbers(types.itemType, type);
  }
  const finalTokens = md["tokenizer.ggml.tokens"].value as string[];
  if (s.eosToken) {
    const id = finalTokens.indexOf(s.eosToken);
    if (id < 0) throw new Error(`${path} has no token ${s.eosToken} — fix eosToken in STANDINS`);
    md["tokenizer.ggml.eos_token_id"] = gguf.u32(id);
  }
  if (s.addBos !== undefined) md["tokenizer.ggml.add_bos_token"] = gguf.bool(s.addBos);
  if (s.chatTemplate) {
    const text = "text" in s.chatTemplate ? s.chatTemplate.text : readFileSync(llamaSourceFile(s.chatTemplate.sourceFile), "utf8");
    md["tokenizer.chat_template"] = gguf.str(text);
  } else {
    delete md["tokenizer.chat_template"];
  }
  return md;
}

/** Ids of tokens that decode to whitespace only (GPT-2 byte-level BPE spells space,
 * newline, tab and CR as Ġ Ċ ĉ č). */
export function whitespaceTokenIds(tokens: string[]): number[] {
  return tokens.flatMap((t, id) => (/^[ĠĊĉč]+$/.test(t) ? [id] : []));
}

/** Row scales that make random weights say words: lowercase English words of 3 to 6
 * letters with a leading space (GPT-2 byte-level BPE: "Ġword"; English averages ~4.7
 * letters, so a capped answer takes as long to speak as a real one) 4x, whitespace-only
 * tokens 0.1x. With tied
 * embeddings the residual stream carries the input token's own row, so the token just
 * read gets a large logit: a loud newline repeats forever (seen: the Qwen stand-in
 * answered only newlines after the tools prompt's "assistant\n"). */
function speakingRows(tokens: string[]): (row: number) => number {
  const words = new Set(tokens.flatMap((t, id) => (/^Ġ[a-z]{3,6}$/.test(t) ? [id] : [])));
  const blank = new Set(whitespaceTokenIds(tokens));
  return (row) => (words.has(row) ? 4 : blank.has(row) ? 0.1 : 1);
}

/** Writes a stand-in with every matrix as `matrices` (our writer: f32, f16, q8_0, q4_0). */
export async function writeStandIn(name: StandInName, path: string, matrices: GgmlType, seed = spec(name).seed): Promise<void> {
  const s = spec(name);
  const weights = { matrices, seed };
  const label = `${s.stands} (Aide stand-in: random weights)`;
  let md: Record<string, GgufValue>;
  let tensors: TensorSpec[];
  if (s.arch === "bert") {
    md = bertMetadata(s.config, label, matrices);
    tensors = bertTensors(s.config, weights);
  } else {
    md = decoderMetadata(s.arch, s.config, label, matrices);
    const vocab = tokenizerMetadata(s);
    const scale = s.speaksWords ? speakingRows(vocab["tokenizer.ggml.tokens"].value as string[]) : undefined;
    tensors = decoderTensors(s.arch, s.config, { ...weights, embeddingRowScale: scale });
    await writeGguf(path, { ...md, ...vocab }, tensors);
    return;
  }
  await writeGguf(path, { ...md, ...tokenizerMetadata(s) }, tensors);
}

const run = promisify(execFile);

/** Threads for llama-quantize: the machines this runs on are small and shared. */
const QUANTIZE_THREADS = 2;

async function quantize(input: string, output: string, quantization: Exclude<Quantization, "Q8_0">): Promise<void> {
  const binary = llamaBinary("llama-quantize");
  try {
    // --allow-requantize: the input is q8_0, already quantized; the per-tensor choice of
    // types (llama-quant.cpp) depends on the target and the tensor, not on the input type.
    await run(binary, ["--allow-requantize", input, output, quantization, String(QUANTIZE_THREADS)], { maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    const last = `${err.stderr ?? ""}${err.stdout ?? ""}`.trim().split("\n").slice(-3).join(" | ");
    throw new Error(`llama-quantize ${quantization} of ${input} failed: ${last || err.message} — check free disk space in ${dirname(output)} and the llama.cpp build (bash scripts/build-llama.sh)`);
  }
}

/** "blk.N." folded away: one line per kind of tensor with the types it got, e.g.
 * "blk.*.ffn_down.weight: q4_K ×14, q6_K ×14". */
export function tensorTypeSummary(header: GgufHeader): string[] {
  const kinds = new Map<string, Map<string, number>>();
  for (const t of header.tensors) {
    const kind = t.name.replace(/^blk\.\d+\./, "blk.*.");
    const types = kinds.get(kind) ?? new Map<string, number>();
    types.set(ggmlTypeName(t.type), (types.get(ggmlTypeName(t.type)) ?? 0) + 1);
    kinds.set(kind, types);
  }
  return [...kinds].map(([kind, types]) => `${kind}: ${[...types].map(([ty, n]) => (n > 1 ? `${ty} ×${n}` : ty)).join(", ")}`);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

/** The path of a stand-in, generating it (once) if it is not in the cache yet. */
export async function ensureStandIn(name: StandInName, log: (line: string) => void = (l) => console.error(l)): Promise<string> {
  const s = spec(name);
  const path = standInPath(name);
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const t0 = performance.now();
  const secs = (since: number) => `${((performance.now() - since) / 1000).toFixed(0)} s`;
  if (s.quantization === "Q8_0") {
    await writeStandIn(name, path, GgmlType.Q8_0);
    log(`${name}: wrote ${mb(statSync(path).size)} of q8_0 in ${secs(t0)}`);
    return path;
  }
  // Full-size q8_0 first (the closest our writer gets to the converter's f16 at half the
  // disk), then llama.cpp's own quantizer makes the real mix of types.
  const q8 = `${path}.q8_0-${process.pid}`;
  const out = `${path}.tmp-${process.pid}`;
  try {
    await writeStandIn(name, q8, GgmlType.Q8_0);
    log(`${name}: wrote ${mb(statSync(q8).size)} of q8_0 in ${secs(t0)}`);
    const t1 = performance.now();
    await quantize(q8, out, s.quantization);
    renameSync(out, path);
    log(`${name}: llama-quantize ${s.quantization} → ${mb(statSync(path).size)} in ${secs(t1)}; tensor types:`);
    for (const line of tensorTypeSummary(readGgufHeader(path))) log(`  ${line}`);
  } finally {
    rmSync(q8, { force: true });
    rmSync(out, { force: true });
  }
  return path;
}

if (require.main === module) {
  const names = process.argv.slice(2);
  (async () => {
    for (const n of names.length ? names : STANDIN_NAMES) spec(n); // refuse a typo before hours of work
    for (const n of (names.length ? names : STANDIN_NAMES) as StandInName[]) {
      const t0 = performance.now();
      const path = await ensureStandIn(n, (l) => console.log(l));
      console.log(`${n}: ${path}  ${mb(statSync(path).size)}  ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  })().catch((e) => { console.error(String(e.message ?? e)); process.exit(1); });
}
