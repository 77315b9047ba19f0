// Tiny speech models in the exact bundle formats sherpa-onnx loads, so the agent's real
// STT/TTS loading and inference code runs in tests (no weights can be downloaded here).
// Formats were read from sherpa-onnx's source (k2-fsa/sherpa-onnx, sherpa-onnx/csrc):
//  - offline NeMo CTC (offline-nemo-enc-dec-ctc-model.cc): inputs features (N, C, T)
//    float + lengths (N) int64, first output log-probs (N, T/subsampling, V); metadata
//    vocab_size, subsampling_factor, normalize_type (may be empty); tokens.txt "sym id"
//    with <blk> naming the CTC blank (offline-recognizer-ctc-impl.h).
//  - Piper VITS (offline-tts-vits-model.cc, piper-phonemize-lexicon.cc): inputs
//    input (1, L) int64, input_lengths (1) int64, scales (3) float; output (1, 1, S)
//    float; metadata sample_rate, n_speakers, language, voice (espeak-ng voice),
//    comment containing "piper"; tokens.txt has one code point per line (a bare id
//    line is the space) and must contain "_" (pad), "^" (bos) and "$" (eos).
import { OnnxGraph } from "./graph";

/** Mel bins of sherpa-onnx's default feature extractor (featConfig.featureDim). */
export const FEATURE_DIM = 80;

export interface FixedPhraseRecognizer {
  model: Uint8Array;
  tokens: string;
}

/**
 * A NeMo-CTC recognizer that answers `phrase` for any audio with a non-silent frame and
 * "" for silence. The loudest frame's mean log-mel energy opens a gate; the log-prob
 * table then spells the phrase one word-piece per frame, with blanks between so CTC
 * keeps repeated words. Audio shorter than 2×words frames (20 ms per word) is cut short.
 *
 * `silenceLogMel` is the mean log-mel value below which a frame counts as silent.
 * sherpa's NeMo features are log(power + 2^-24): digital silence is about -16.6 and
 * quiet speech well above -5.
 */
export function fixedPhraseRecognizer(phrase: string, silenceLogMel = -10): FixedPhraseRecognizer {
  const words = phrase.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new Error("fixedPhraseRecognizer: the phrase is empty");
  // Token 0 is the blank; each word is one SentencePiece-style piece ("▁word").
  const pieces = Array.from(new Set(words));
  const vocab = ["<blk>", ...pieces.map((w) => `\u2581${w}`)];
  const V = vocab.length;

  // Row 2i spells word i, row 2i+1 is blank; the last row (blank) covers every later frame.
  const rows = words.length * 2 + 1;
  const table = new Array<number>(rows * V).fill(-20);
  for (let r = 0; r < rows; r++) {
    const id = r % 2 === 0 && r / 2 < words.length ? 1 + pieces.indexOf(words[r / 2]) : 0;
    table[r * V + id] = 0;
  }
  const blankRow = new Array<number>(V).fill(-20);
  blankRow[0] = 0;

  const g = new OnnxGraph("fixed_phrase_ctc");
  const x = g.input("audio_signal", "float", ["N", FEATURE_DIM, "T"]);
  g.input("length", "int64", ["N"]);

  // gate (N, 1, 1): ~1 when the loudest frame is above the silence level, else ~0.
  const frameEnergy = g.node("ReduceMean", [x], { axes: [1], keepdims: 0 }); // (N, T)
  const loudest = g.node("ReduceMax", [frameEnergy], { axes: [1], keepdims: 1 }); // (N, 1)
  const margin = g.node("Sub", [loudest, g.scalar(silenceLogMel)]);
  const gate2 = g.node("Sigmoid", [g.node("Mul", [margin, g.scalar(8)])]);
  const gate = g.node("Unsqueeze", [gate2, g.int64s([2])]); // (N, 1, 1)

  // spelled (1, T, V): table rows by frame index, clamped to the final blank row.
  const shape = g.node("Shape", [x]);
  const T = g.node("Gather", [shape, g.int64s([2], [])], { axis: 0 });
  const frameIndex = g.node("Range", [g.constant("int64", [], [0]), T, g.constant("int64", [], [1])]);
  const clamped = g.node("Min", [frameIndex, g.constant("int64", [], [rows - 1])]);
  const spelled = g.node("Gather", [g.floats(table, [rows, V]), clamped], { axis: 0 }); // (T, V)
  const spelled3 = g.node("Unsqueeze", [spelled, g.int64s([0])]);

  const speech = g.node("Mul", [gate, spelled3]);
  const ungate = g.node("Sub", [g.scalar(1), gate]);
  const silence = g.node("Mul", [ungate, g.floats(blankRow, [1, 1, V])]);
  const logits = g.node("Add", [speech, silence]); // (N, T, V) by broadcasting
  g.output("logprobs", "float", ["N", "T", V], logits);

  return {
    model: g.toBytes({
      metadata: {
        model_type: "EncDecCTCModelBPE",
        vocab_size: V,
        subsampling_factor: 1,
        normalize_type: "",
        comment: `aide test model: says "${words.join(" ")}" for non-silent audio`,
      },
    }),
    tokens: vocab.map((t, i) => `${t} ${i}`).join("\n") + "\n",
  };
}

export interface ToneVoice {
  model: Uint8Array;
  tokens: string;
  sampleRate: number;
}

/**
 * The code points espeak-ng's IPA output uses for the languages we ship: ASCII letters,
 * the IPA block, spacing modifiers (stress ˈ ˌ, length ː) and a few Latin-1 letters.
 */
function phonemeSymbols(): string[] {
  const out: string[] = [];
  const range = (a: number, b: number) => {
    for (let c = a; c <= b; c++) out.push(String.fromCodePoint(c));
  };
  range(0x61, 0x7a); // a-z
  range(0x250, 0x2af); // IPA extensions
  range(0x2b0, 0x2ff); // spacing modifier letters
  out.push("æ", "ç", "ð", "ø", "ħ", "ŋ", "œ", "θ", "β", "χ", "ᵻ", "\u0303", "\u0329");
  out.push("!", "'", "(", ")", ",", "-", ".", ":", ";", "?");
  return out;
}

/**
 * A Piper-format VITS voice that "speaks" each phoneme as a short tone (its pitch set by
 * the phoneme id) and the pad between phonemes as silence: real sherpa-onnx TTS
 * (espeak-ng phonemizer, tokenizer, ONNX Runtime) with audible, deterministic output.
 */
export function toneVoice(sampleRate = 22050, samplesPerToken = 256): ToneVoice {
  const symbols = ["_", "^", "$", " ", ...phonemeSymbols()];
  const V = symbols.length;
  // pad/bos/eos are silent; every other symbol is a tone between 150 and 600 Hz.
  const freq = symbols.map((_, i) => (i < 3 ? 0 : 150 + ((i * 37) % 450)));
  const amp = symbols.map((_, i) => (i < 3 ? 0 : 0.3));
  const ramp = Array.from({ length: samplesPerToken }, (_, j) => (2 * Math.PI * j) / sampleRate);

  const g = new OnnxGraph("tone_voice");
  const ids = g.input("input", "int64", [1, "L"]);
  g.input("input_lengths", "int64", [1]);
  g.input("scales", "float", [3]);
  const f = g.node("Unsqueeze", [g.node("Gather", [g.floats(freq), ids], { axis: 0 }), g.int64s([2])]); // (1, L, 1)
  const a = g.node("Unsqueeze", [g.node("Gather", [g.floats(amp), ids], { axis: 0 }), g.int64s([2])]);
  const wave = g.node("Mul", [a, g.node("Sin", [g.node("Mul", [f, g.floats(ramp, [1, 1, samplesPerToken])])])]);
  const y = g.node("Reshape", [wave, g.int64s([1, 1, -1])]);
  g.output("output", "float", [1, 1, "S"], y);

  return {
    model: g.toBytes({
      metadata: {
        model_type: "vits",
        comment: "piper (aide test voice: one tone per phoneme)",
        language: "English",
        voice: "en-us",
        has_espeak: 1,
        n_speakers: 1,
        sample_rate: sampleRate,
      },
    }),
    tokens: symbols.map((s, i) => (s === " " ? `${i}` : `${s} ${i}`)).join("\n") + "\n",
    sampleRate,
  };
}

export interface FixedPhraseMoonshine {
  preprocessor: Uint8Array;
  encoder: Uint8Array;
  uncachedDecoder: Uint8Array;
  cachedDecoder: Uint8Array;
  tokens: string;
}

/** Samples per Moonshine encoder frame (sherpa's decoder allows 6 tokens per 16000/384 frames). */
export const MOONSHINE_HOP = 384;
/** Moonshine's special tokens (sherpa's greedy search starts at 1 and stops at 2). */
const MOONSHINE_SPECIALS = ["<unk>", "<s>", "</s>"];
const MOONSHINE_EOS = 2;

/** What a fixed-phrase Moonshine decoder says: its word pieces and the id it emits at each step. */
export interface MoonshinePhrase {
  words: string[];
  /** tokens.txt symbols for ids 0..: the specials, then one "▁word" piece per distinct word. */
  vocab: string[];
  /** The id emitted at step seq_len - 1: the words in order, then </s>. */
  steps: number[];
}

export function moonshinePhrase(phrase: string): MoonshinePhrase {
  const words = phrase.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new Error("fixed-phrase Moonshine: the phrase is empty");
  const pieces = Array.from(new Set(words));
  const vocab = [...MOONSHINE_SPECIALS, ...pieces.map((w) => `\u2581${w}`)];
  const steps = [...words.map((w) => MOONSHINE_SPECIALS.length + pieces.indexOf(w)), MOONSHINE_EOS];
  return { words, vocab, steps };
}

/** Mean |sample| of each whole 384-sample frame of `audio` (1, N): (1, T, 1); a partial last frame is dropped. */
export function moonshineFrameLevels(g: OnnxGraph, audio: string): string {
  const n = g.node("Gather", [g.node("Shape", [audio]), g.int64s([1], [])], { axis: 0 });
  const whole = g.node("Mul", [g.node("Div", [n, g.constant("int64", [], [MOONSHINE_HOP])]), g.constant("int64", [], [MOONSHINE_HOP])]);
  const cut = g.node("Slice", [audio, g.int64s([0]), g.node("Unsqueeze", [whole, g.int64s([0])]), g.int64s([1])]);
  const frames = g.node("Reshape", [cut, g.int64s([1, -1, MOONSHINE_HOP])]);
  return g.node("ReduceMean", [g.node("Abs", [frames])], { axes: [2], keepdims: 1 });
}

/**
 * The decoder's phrase logits (1, V): the id for step `seqLen` - 1 when `level` (any
 * shape; its max counts) is above `silenceLevel`, else </s>. Target logit 10, others -20.
 */
export function moonshinePhraseLogits(g: OnnxGraph, plan: MoonshinePhrase, level: string, seqLen: string, silenceLevel: number, vocabSize: number): string {
  const onOff = g.floats([-20, 10]);
  const depth = g.int64s([vocabSize], []);
  const step = g.node("Sub", [g.node("Cast", [seqLen], { to: 7 }), g.int64s([1])]); // int64 (1)
  const id = g.node("Gather", [g.int64s(plan.steps), g.node("Min", [step, g.int64s([plan.steps.length - 1])])], { axis: 0 });
  const row = g.node("OneHot", [id, depth, onOff], { axis: -1 }); // (1, V)
  const eosRow = g.node("OneHot", [g.int64s([MOONSHINE_EOS]), depth, onOff], { axis: -1 });
  const loud = g.node("ReduceMax", [level], { keepdims: 0 });
  const gate = g.node("Sigmoid", [g.node("Mul", [g.node("Sub", [loud, g.scalar(silenceLevel)]), g.scalar(2000)])]);
  return g.node("Add", [g.node("Mul", [gate, row]), g.node("Mul", [g.node("Sub", [g.scalar(1), gate]), eosRow])]);
}

/**
 * Moonshine's four-graph bundle (offline-moonshine-model.cc, offline-moonshine-greedy-
 * search-decoder.cc): preprocess audio (1, N) → features (1, T, D); encode (features,
 * features_len int32) → (1, T', H); uncached_decode (tokens int32 (1,1), encoder_out,
 * seq_len int32 (1)) → logits (1, 1, V) + states; cached_decode (same + states) →
 * logits + states. Greedy search starts at token 1 and stops at 2 or after
 * T'·384/16000·6 tokens. This one spells `phrase` when any 24 ms frame's mean |sample|
 * is above `silenceLevel`, and stops at once otherwise; it needs about 1 s of audio
 * per 6 words. (moonshine-cost.ts makes one that also does the real model's work.)
 */
export function fixedPhraseMoonshine(phrase: string, silenceLevel = 0.01): FixedPhraseMoonshine {
  const plan = moonshinePhrase(phrase);
  const V = plan.vocab.length;

  // preprocess: the frame levels are the features, (1, T, 1).
  const pre = new OnnxGraph("moonshine_preprocess");
  const audio = pre.input("audio", "float", [1, "N"]);
  pre.output("features", "float", [1, "T", 1], moonshineFrameLevels(pre, audio));

  // encode: passes the frame levels through.
  const enc = new OnnxGraph("moonshine_encode");
  const feats = enc.input("features", "float", [1, "T", 1]);
  enc.input("features_len", "int32", [1]);
  enc.output("encoder_out", "float", [1, "T", 1], feats);

  const decoder = (cached: boolean): Uint8Array => {
    const g = new OnnxGraph(cached ? "moonshine_cached_decode" : "moonshine_uncached_decode");
    g.input("tokens", "int32", [1, 1]);
    const encOut = g.input("encoder_out", "float", [1, "T", 1]);
    const seqLen = g.input("seq_len", "int32", [1]);
    const state = cached ? g.input("state_in", "float", [1]) : g.floats([0]);
    const logits = moonshinePhraseLogits(g, plan, encOut, seqLen, silenceLevel, V);
    g.output("logits", "float", [1, 1, V], g.node("Reshape", [logits, g.int64s([1, 1, V])]));
    g.output("state_out", "float", [1], g.node("Identity", [state]));
    return g.toBytes();
  };

  return {
    preprocessor: pre.toBytes(),
    encoder: enc.toBytes(),
    uncachedDecoder: decoder(false),
    cachedDecoder: decoder(true),
    tokens: plan.vocab.map((t, i) => `${t} ${i}`).join("\n") + "\n",
  };
}
