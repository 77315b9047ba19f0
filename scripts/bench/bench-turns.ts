// npm run bench:turns — a scripted 20-turn conversation through the agent's stages, no
// browser: spoken lines (espeak-ng, 16 kHz) → Silero VAD → STT → TwinService with
// long-term memory → TtsProcessor (espeak-ng) → a speaker that reports what was "heard".
// Prints each turn's seed §9.2 block and the prompt tokens llama-server evaluated, then
// p50/p95 of each figure, a long-term memory save at its cap, and how fast the two
// embedding paths are on this machine.
//
//   npm run bench:turns                         generated models, llama-server started here
//   npm run bench:turns -- --text               text in where the transcript would be (no VAD/STT)
//   LLM_BASE_URL=http://10.0.0.5:8080 npm run bench:turns     against a running backend
//   npm run bench:turns -- --model m.gguf --models-dir ~/.cache/aide/models --turns 20 --threads 1
//
// With the generated speech models the recognizer hears "what can you see" in every line
// (its one phrase); with downloaded models (--models-dir) it transcribes the lines.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLlamaServer, type RunningProcess } from "../../lib/llama";
import { ensureTinyChatModel, ensureTinyEmbeddingModel } from "../models/tiny";
import { BotState, FrameProcessor, Pipeline, TurnCounter, concatPcm, frame, type Direction, type Frame } from "../../agent/src/pipeline";
import { voicePipeline } from "../../agent/src/processors";
import { createSpeechToText, type SpeechToText } from "../../agent/src/services/stt";
import { EspeakVoice, createTextToSpeech, resample, type TextToSpeech } from "../../agent/src/services/tts";
import { SileroVad, VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE } from "../../agent/src/services/vad";
import { ensureTinySpeechModels } from "../models/tiny-speech";
import { LINES } from "../lab/lines";
import { LatencyReporter, LATENCY_FIGURES, type TurnLatency } from "../../agent/src/metrics";
import { LlamaServerEmbedder, LongTermMemory, NodeLlamaCppEmbedder, TwinService, type Embedder, type TwinTurnInfo } from "../../agent/src/twin";


function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Plays the output transport: the first audio of a turn is "bot started speaking"; each clause's words are reported heard. */
class BenchSpeaker extends FrameProcessor {
  private started = false;

  constructor(private readonly turns: TurnCounter) {
    super("BenchSpeaker");
  }

  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (direction === "downstream" && f.type === "llm-response-start") this.started = false;
    if (direction === "downstream" && f.type === "llm-response-end" && this.started) this.push(frame("bot-stopped-speaking"), "upstream");
    if (direction === "downstream" && f.type === "output-audio") {
      if (!this.started) {
        this.started = true;
        this.push(frame("metrics", { turnId: this.turns.current, mark: "bot-started-speaking", at: performance.now() }));
        this.push(frame("bot-started-speaking"), "upstream");
      }
      if (f.text) this.push(frame("bot-spoken-text", { text: f.text }), "upstream");
      return; // audio goes nowhere: no speaker here
    }
    this.push(f, direction);
  }
}

/** A line as the microphone would bring it: espeak-ng speech at 16 kHz between silences. */
async function utterance(text: string): Promise<Int16Array> {
  const voice = new EspeakVoice();
  const parts: Int16Array[] = [];
  for await (const chunk of voice.speak(text)) parts.push(chunk);
  const speech = resample(concatPcm(parts), voice.nativeRate, VAD_SAMPLE_RATE);
  const silence = (ms: number) => new Int16Array((VAD_SAMPLE_RATE * ms) / 1000);
  return concatPcm([silence(300), speech, silence(1500)]);
}


function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Median ms per text of each embedder, taking turns text by text so machine load hits both alike. */
async function compareEmbedders(embedders: [string, Embedder][], texts: string[], rounds = 3): Promise<string[]> {
  const times = embedders.map(() => [] as number[]);
  for (const [, embedder] of embedders) await embedder.embed([texts[0]]); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const text of texts) {
      for (const [i, [, embedder]] of embedders.entries()) {
        const started = performance.now();
        await embedder.embed([`${text} (${r})`]);
        times[i].push(performance.now() - started);
      }
    }
  }
  return embedders.map(([name], i) => `  ${name.padEnd(28)} median ${percentile(times[i], 50).toFixed(2)} ms, p95 ${percentile(times[i], 95).toFixed(2)} ms per text`);
}

/** One background save of a memory at its default cap (2000 memories of 384 dimensions, a typical small embedding model). */
async function timeMemorySave(dir: string): Promise<string> {
  const dims = 384;
  const embedder: Embedder = {
    embed: async (texts) => texts.map((text, k) => Array.from({ length: dims }, (_, i) => Math.sin(i * 0.37 + text.length * 1.3 + k))),
    close: async () => undefined,
  };
  const memory = await LongTermMemory.open({ dir, embedder, conversationId: "bench", maxItems: 2000 });
  await Promise.all(Array.from({ length: 1999 }, (_, i) => memory.remember(`background fact number ${i} about the house`)));
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await memory.remember(`one more fact number ${i} about the garden`);
    times.push(performance.now() - started);
  }
  const mb = statSync(join(dir, "index.json")).size / 1e6;
  return `  save at the cap (2000 memories x ${dims} dims, temp+fsync+rename): median ${percentile(times, 50).toFixed(0)} ms, ${mb.toFixed(1)} MB on disk`;
}

async function main(): Promise<void> {
  const turnsWanted = Number(arg("turns") ?? 20);
  // 1 thread by default: TTS synthesizes the first clause while the LLM is still
  // generating, and on 2 busy cores a second spinning llama.cpp thread made the first
  // token 3x slower here (p50 0.18 s vs 0.06 s). Use --threads 2 where the LLM has the cores to itself.
  const threads = Number(arg("threads") ?? 1);
  const started: RunningProcess[] = [];
  const scratch = mkdtempSync(join(tmpdir(), "aide-bench-turns-"));
  try {
    let llmUrl = process.env.LLM_BASE_URL; // the agent's name for it
    if (!llmUrl) {
      const model = arg("model") ?? (await ensureTinyChatModel());
      const llm = await startLlamaServer({ model, threads, parallel: 1, ctxSize: 4096, extraArgs: ["--cache-reuse", "16", "--cache-ram", "512"] });
      started.push(llm);
      llmUrl = llm.url;
    }
    const embeddingModel = await ensureTinyEmbeddingModel();
    let embedUrl = process.env.EMBED_URL;
    if (!embedUrl) {
      const server = await startLlamaServer({ model: embeddingModel, threads: 1, parallel: 1, ctxSize: 2048, extraArgs: ["--embeddings", "--pooling", "mean"] });
      started.push(server);
      embedUrl = server.url;
    }
    const memory = await LongTermMemory.open({ dir: join(scratch, "memory"), embedder: new LlamaServerEmbedder(embedUrl), conversationId: "bench" });

    const turns = new TurnCounter();
    const bot = new BotState();
    const infos: TwinTurnInfo[] = [];
    const reports: TurnLatency[] = [];
    const reporter = new LatencyReporter({ benchmark: true, onReport: (r) => reports.push(r) });
    const twin = new TwinService({
      llm: { baseUrl: llmUrl, slotId: 0, maxTokens: 48, temperature: 0, seed: 1 },
      memory: { longTerm: memory },
      onTurn: (info) => infos.push(info),
      bot,
      log: () => undefined,
    });
    const audioIn = !process.argv.includes("--text");
    let hearing: { vad: SileroVad; stt: SpeechToText } | undefined;
    if (audioIn) {
      const modelDir = arg("models-dir") ?? (await ensureTinySpeechModels()).dir;
      hearing = { vad: await SileroVad.load(), stt: await createSpeechToText({ modelDir, numThreads: 1 }) };
    }
    let tts: TextToSpeech | undefined;
    try {
      tts = await createTextToSpeech({ voice: "espeak" });
    } catch (error) {
      process.stdout.write(`TTS unavailable (${(error as Error).message}): TTS figures will be n/a\n`);
    }
    // The agent's own assembly, without the client: lines are queued at its start, and
    // BenchSpeaker stands where the client's output would be.
    const stages = voicePipeline({ turns, bot, hearing, brain: twin, tts, output: new BenchSpeaker(turns) });
    const pipeline = new Pipeline(stages, { onDownstreamOut: (f) => reporter.observe(f), onUpstreamOut: (f) => reporter.observe(f) });
    pipeline.start();

    process.stdout.write(`bench:turns — ${turnsWanted} turns, ${audioIn ? "spoken lines through VAD and STT" : "text in"}, LLM at ${llmUrl}\n\n`);
    for (let i = 0; i < turnsWanted; i++) {
      const text = LINES[i % LINES.length];
      const before = reports.length;
      const turnsBefore = infos.length;
      process.stdout.write(`line ${i + 1}: "${text}"\n`);
      if (audioIn) {
        const pcm = await utterance(text);
        for (let at = 0; at < pcm.length; at += VAD_FRAME_SAMPLES) {
          pipeline.queueFrame(frame("input-audio", { pcm: pcm.subarray(at, at + VAD_FRAME_SAMPLES), sampleRate: VAD_SAMPLE_RATE }));
        }
      } else {
        const turnId = turns.begin();
        reporter.observe(frame("metrics", { turnId, mark: "transcript-final", at: performance.now() }));
        pipeline.queueFrame(frame("transcription", { text, final: true, turnId }));
      }
      await pipeline.idle();
      const info = infos.length > turnsBefore ? infos[infos.length - 1] : undefined;
      if (!info) {
        process.stdout.write("no turn: the VAD heard no speech, or the transcript was empty\n\n");
        continue;
      }
      if (reports.length === before) reporter.finish(info.turnId);
      if (audioIn) process.stdout.write(`heard: "${info.userText}"\n`);
      process.stdout.write(`prompt tokens evaluated: ${info.promptTokens.join(" + ") || "n/a"}\n\n`);
    }
    await pipeline.stop();

    process.stdout.write(`summary over ${reports.length} turns (seconds)\n`);
    for (const [key, label] of LATENCY_FIGURES) {
      const values = reports.map((r) => r[key]).filter((v): v is number => v !== undefined);
      const line = values.length ? `p50 ${percentile(values, 50).toFixed(4)}s  p95 ${percentile(values, 95).toFixed(4)}s` : "n/a (no VAD/STT with --text)";
      process.stdout.write(`  ${label.padEnd(26)} ${line}\n`);
    }
    const evaluated = infos.map((t) => t.promptTokens[0] ?? 0);
    process.stdout.write(`  prompt tokens evaluated per turn: ${evaluated.join(", ")}\n`);
    process.stdout.write(`  p50 ${percentile(evaluated, 50)}  p95 ${percentile(evaluated, 95)} tokens (turn 1 is the whole prompt)\n`);
    process.stdout.write(`  memories stored: ${await memory.size()}\n\n`);

    process.stdout.write(`long-term memory (runs after the turn, in the background):\n${await timeMemorySave(join(scratch, "memory-cap"))}\n\n`);
    process.stdout.write(`embeddings on this machine (tiny embedding model, 1 thread, one text per call, ${LINES.length * 3} calls each):\n`);
    const local = new NodeLlamaCppEmbedder(embeddingModel, 1);
    try {
      await local.ready;
      const lines = await compareEmbedders([["llama-server /v1/embeddings", new LlamaServerEmbedder(embedUrl)], ["node-llama-cpp (child)", local]], LINES);
      process.stdout.write(`${lines.join("\n")}\n`);
    } catch (error) {
      process.stdout.write(`  node-llama-cpp unavailable: ${(error as Error).message}\n`);
    } finally {
      await local.close();
    }
  } finally {
    for (const p of started) await p.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`bench:turns failed: ${error?.message ?? error}\n`);
  process.exit(1);
});
