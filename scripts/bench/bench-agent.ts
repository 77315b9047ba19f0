// npm run bench:agent [-- --turns 50] [--barge-ins 100]
//
// The voice agent's own cost, without the browser, over its real WebSocket:
//
// 1. Agent overhead per turn: espeak-ng speech (16 kHz, 512-byte chunks, sent in real
//    time like a microphone) → Silero VAD → STT (generated model) → TwinService against
//    llama-server (generated tiny model) → TTS (espeak-ng) → bot audio back. A turn runs
//    from the VAD deciding the user stopped (its metrics mark) to the last bot audio
//    handed to the output transport; the microphone is a separate process. Overhead = that wall time minus the time any VAD/STT/LLM/TTS call was
//    running (the union of their busy intervals, since TTS overlaps the LLM stream).
//    Output pacing is off here: playback time is not cost. Also printed: the same on the
//    latency path alone (user stopped → first bot audio), which is what a user waits for.
// 2. Stale audio after randomized barge-ins: a reply is cut at a random moment (30–900
//    ms into its audio) by a new turn; every bot audio frame of the old reply that
//    arrives after the server has the barge-in is stale. Goal 0. Audio is real-time
//    paced here, as in use; each reply's samples carry its turn number.
import { fork } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { PerformanceObserver } from "node:perf_hooks";
import { Direction, Frame, FrameProcessor, frame } from "../../agent/src/pipeline";
import { voicePipeline } from "../../agent/src/processors";
import { SileroVad } from "../../agent/src/services/vad";
import { createSpeechToText, SpeechToText } from "../../agent/src/services/stt";
import { createTextToSpeech, TextToSpeech } from "../../agent/src/services/tts";
import { ScriptedClient, startAgentServer } from "../../agent/src/transport";
import { TwinService } from "../../agent/src/twin";
import { makeSpeech } from "../../agent/test/vad/espeak-speech";
import { freePort, startLlamaServer } from "../../lib/llama";
import { ensureTinyChatModel } from "../models/tiny";
import { ensureTinySpeechModels } from "../models/tiny-speech";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number ≥ 1`);
  return v;
}

/** Time intervals during which some model call was running. */
class BusyClock {
  private intervals: Array<[number, number]> = [];
  private labels: string[] = [];

  async time<T>(work: () => Promise<T>, label = ""): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.intervals.push([start, performance.now()]);
      this.labels.push(label);
    }
  }

  /** Gaps longer than `minMs` inside [from, to], with the calls around them (BENCH_DEBUG=1). */
  gaps(from: number, to: number, minMs: number): string[] {
    const order = this.intervals.map((iv, i) => ({ iv, label: this.labels[i] })).sort((x, y) => x.iv[0] - y.iv[0]);
    const out: string[] = [];
    let end = from;
    let last = "turn start";
    for (const { iv, label } of order) {
      if (iv[1] < from || iv[0] > to) continue;
      if (iv[0] - end > minMs) out.push(`${(iv[0] - end).toFixed(1)} ms idle after ${last} before ${label}`);
      if (iv[1] > end) { end = iv[1]; last = label; }
    }
    if (to - end > minMs) out.push(`${(to - end).toFixed(1)} ms idle after ${last} until the last audio arrived`);
    return out;
  }

  /** Length of the union of intervals inside [from, to]. */
  busyWithin(from: number, to: number): number {
    const clipped = this.intervals
      .map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as [number, number])
      .filter(([a, b]) => b > a)
      .sort((x, y) => x[0] - y[0]);
    let total = 0;
    let end = -Infinity;
    for (const [a, b] of clipped) {
      if (b <= end) continue;
      total += b - Math.max(a, end);
      end = b;
    }
    return total;
  }

  reset(): void {
    this.intervals = [];
  }
}

function timedStt(stt: SpeechToText, clock: BusyClock): SpeechToText {
  return { name: stt.name, sampleRate: stt.sampleRate, transcribe: (pcm, rate, signal) => clock.time(() => stt.transcribe(pcm, rate, signal), "stt") };
}

function timedTts(tts: TextToSpeech, clock: BusyClock): TextToSpeech {
  return {
    sampleRate: tts.sampleRate,
    name: tts.name,
    synthesize(text, signal) {
      const inner = tts.synthesize(text, signal)[Symbol.asyncIterator]();
      return { [Symbol.asyncIterator]: () => ({ next: () => clock.time(() => inner.next(), "tts") }) };
    },
  };
}

function timedVad(vad: SileroVad, clock: BusyClock): SileroVad {
  const probability = vad.probability.bind(vad);
  vad.probability = (f: Int16Array) => clock.time(() => probability(f), "vad");
  return vad;
}

/** Wraps TwinService's LLM stream so every wait for the next event is clocked. */
function timedBrain(twin: TwinService, clock: BusyClock): TwinService {
  const stream = twin.client.stream.bind(twin.client);
  twin.client.stream = (request, signal) => {
    const inner = stream(request, signal)[Symbol.asyncIterator]();
    return { [Symbol.asyncIterator]: () => ({ next: () => clock.time(() => inner.next(), "llm") }) } as ReturnType<typeof stream>;
  };
  return twin;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const gcLog: Array<[number, number]> = [];
if (process.env.BENCH_DEBUG) {
  new PerformanceObserver((list) => { for (const e of list.getEntries()) gcLog.push([e.startTime, e.duration]); }).observe({ entryTypes: ["gc"] });
}

/** Records when the last bot audio of a turn left TTS for the output transport. */
class LastAudioProbe extends FrameProcessor {
  static firstAt = 0;
  static lastAt = 0;
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (f.type === "output-audio") {
      LastAudioProbe.lastAt = performance.now();
      LastAudioProbe.firstAt ||= LastAudioProbe.lastAt;
    }
    this.push(f, direction);
  }
}

const UTTERANCES = ["What can you see right now?", "Tell me something about the weather.", "Turn off the kitchen lights."];

/**
 * The microphone side runs in its own process, so its work (encoding mic audio, decoding
 * bot audio) does not land on the agent's event loop and count as agent overhead.
 */
async function microphoneProcess(url: string): Promise<void> {
  const utterances = UTTERANCES.map((text) => makeSpeech(text, 200, 800).pcm);
  const client = await ScriptedClient.connect(url);
  await client.ready();
  process.on("message", async (m: { turn: number }) => {
    const pcm = utterances[m.turn % utterances.length];
    const messagesBefore = client.messages.length;
    const audioBefore = client.audio.length;
    const sendStart = performance.now();
    for (let at = 0, n = 0; at < pcm.length; at += 256, n++) {
      const due = sendStart + n * 16; // 256 samples = 16 ms at 16 kHz: real time
      if (due > performance.now()) await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
      client.sendAudio(pcm.subarray(at, at + 256));
    }
    await client.waitForMessage((x) => x.type === "bot-llm-stopped", 60_000, messagesBefore);
    await client.waitForMessage((x) => x.type === "bot-stopped-speaking", 60_000, messagesBefore);
    process.send!({ done: m.turn, audio: client.audio.length > audioBefore });
    client.audio.length = 0;
  });
  process.send!({ ready: true });
}

async function overheadBench(turns: number): Promise<void> {
  const clock = new BusyClock();
  const speech = await ensureTinySpeechModels();
  const stt = timedStt(await createSpeechToText({ modelDir: speech.dir, numThreads: 1 }), clock);
  const tts = timedTts(await createTextToSpeech({ voice: "espeak" }), clock);
  const model = await ensureTinyChatModel();
  const llama = await startLlamaServer({ model, threads: 2, port: await freePort(), parallel: 1, ctxSize: 2048 });
  let stoppedAt = 0;
  const server = await startAgentServer({
    session: { output: { leadMs: 1e9 } },
    stages: async ({ turns: counter, bot, input, output, onMetrics }) => {
      onMetrics((m) => { if (m.mark === "user-stopped-speaking") stoppedAt = m.at; });
      const brain = timedBrain(new TwinService({ llm: { baseUrl: llama.url, maxTokens: 24, temperature: 0, seed: 1 }, bot, log: () => {} }), clock);
      const stages = voicePipeline({ turns: counter, bot, input, hearing: { vad: timedVad(await SileroVad.load(), clock), stt }, brain, tts, output });
      // The probe listens just before the client's output.
      return [...stages.slice(0, -1), new LastAudioProbe(), output];
    },
  });
  const mic = fork(__filename, ["--microphone", server.wsUrl], { execArgv: ["-r", "ts-node/register/transpile-only"], stdio: "inherit" });
  const replies: Array<{ ready?: boolean; done?: number; audio?: boolean }> = [];
  let wake: () => void = () => {};
  mic.on("message", (m: { ready?: boolean; done?: number; audio?: boolean }) => { replies.push(m); wake(); });
  const next = async () => {
    while (replies.length === 0) {
      if (mic.exitCode !== null) throw new Error("the microphone process ended early");
      await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 1000); });
    }
    return replies.shift()!;
  };
  try {
    await next(); // ready
    const overheads: number[] = [];
    const walls: number[] = [];
    const toFirstAudio: number[] = [];
    for (let t = 0; t < turns + 2; t++) {
      clock.reset();
      stoppedAt = 0;
      LastAudioProbe.lastAt = 0;
      LastAudioProbe.firstAt = 0;
      mic.send({ turn: t });
      const reply = await next();
      if (!reply.audio) throw new Error(`turn ${t} produced no bot audio`);
      const start = stoppedAt;
      const end = LastAudioProbe.lastAt;
      if (!start) throw new Error(`turn ${t}: the VAD never marked the end of speech`);
      const wall = end - start;
      if (t >= 2) { // the first two turns warm caches and the JIT
        walls.push(wall);
        overheads.push(wall - clock.busyWithin(start, end));
        const first = LastAudioProbe.firstAt;
        toFirstAudio.push(first - start - clock.busyWithin(start, first));
        if (process.env.BENCH_DEBUG) {
          const gcs = gcLog.filter(([a]) => a >= start && a <= end).map(([, d]) => d.toFixed(1));
          process.stdout.write(`turn ${t}: ${clock.gaps(start, end, 1).join("; ")} | gc ${gcs.join(",")}\n`);
        }
      }
    }
    process.stdout.write(
      `agent overhead per turn over ${turns} spoken turns (wall − time inside VAD/STT/LLM/TTS):\n` +
      `  p50 ${percentile(overheads, 50).toFixed(2)} ms   p95 ${percentile(overheads, 95).toFixed(2)} ms   (goal p95 ≤ 5 ms)\n` +
      `  on the latency path only (user stopped → first bot audio): p50 ${percentile(toFirstAudio, 50).toFixed(2)} ms   p95 ${percentile(toFirstAudio, 95).toFixed(2)} ms\n` +
      `  turn wall time p50 ${percentile(walls, 50).toFixed(0)} ms (models included); load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${cpus().length} cores\n` +
      `  (wall-clock figures: on a shared, oversubscribed machine every descheduling shows up as overhead; BENCH_DEBUG=1 lists the idle gaps and GC pauses per turn)\n`);
  } finally {
    mic.kill();
    await server.close();
    await llama.stop();
  }
}

/** Streams a reply of numbered words; the audio says which turn it belongs to. */
class CountingBrain extends FrameProcessor {
  protected async process(f: Frame, direction: Direction): Promise<void> {
    if (!(f.type === "transcription" && direction === "downstream")) return this.push(f, direction);
    const signal = this.signal;
    this.push(frame("llm-response-start", { turnId: f.turnId }));
    for (let i = 0; i < 40; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (signal.aborted) return;
      this.push(frame("llm-text", { text: `word${f.turnId} ` }));
    }
    this.push(frame("llm-response-end", { turnId: f.turnId }));
  }
}

/** A voice whose every sample is the turn number in its text: 40 ms chunks, 100 ms per word. */
const turnTone: TextToSpeech = {
  sampleRate: 24000,
  name: "turn-tone",
  async *synthesize(text, signal) {
    const turn = Number(/word(\d+)/.exec(text)?.[1] ?? 0);
    const words = text.trim().split(/\s+/).length;
    for (let i = 0; i < words * 2.5 && !signal?.aborted; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      yield new Int16Array(960).fill(turn);
    }
  },
};

async function staleBench(bargeIns: number): Promise<void> {
  const server = await startAgentServer({
    stages: ({ turns, bot, input, output }) => voicePipeline({ turns, bot, input, brain: new CountingBrain(), tts: turnTone, output }),
  });
  try {
    const client = await ScriptedClient.connect(server.wsUrl);
    await client.ready();
    let stale = 0;
    let cutsWhileSpeaking = 0;
    client.sendText("start");
    let turn = 1;
    for (let i = 0; i < bargeIns; i++) {
      await client.waitFor(() => client.audio.some((a) => a.pcm[0] === turn) || undefined, 10_000, `turn ${turn}'s audio`);
      await new Promise((resolve) => setTimeout(resolve, 30 + Math.random() * 870));
      const old = turn;
      const messagesBefore = client.messages.length;
      client.sendText(`barge in ${i}`);
      turn++;
      // The server echoes the transcript right after it has pushed the interruption.
      const echo = await client.waitFor(() => client.messages.slice(messagesBefore).find((m) => m.message.type === "user-transcription"), 5000, "the echo");
      await client.waitFor(() => client.audio.some((a) => a.pcm[0] === turn) || undefined, 10_000, `turn ${turn}'s audio`);
      const late = client.audio.filter((a) => a.pcm[0] === old && a.at > echo.at);
      stale += late.length;
      if (client.audio.some((a) => a.pcm[0] === old)) cutsWhileSpeaking++;
      client.audio.splice(0, client.audio.length - 1);
    }
    client.close();
    process.stdout.write(
      `stale bot audio frames after ${bargeIns} randomized barge-ins (paced output, 80 ms lead): ${stale} (goal 0; ${cutsWhileSpeaking} cut mid-reply)\n`);
  } finally {
    await server.close();
  }
}

async function main(): Promise<void> {
  const mic = process.argv.indexOf("--microphone");
  if (mic > 0) return microphoneProcess(process.argv[mic + 1]);
  await overheadBench(arg("turns", 50));
  await staleBench(arg("barge-ins", 100));
}

main().then(() => { if (!process.argv.includes("--microphone")) process.exit(0); }, (error) => {
  process.stderr.write(`bench:agent failed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
