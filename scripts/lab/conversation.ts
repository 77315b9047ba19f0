// The household's phone in the cluster lab: plays a scripted conversation into the real
// agent over its WebSocket, as the page would — a microphone that never stops (silence
// between lines, so the agent's VAD decides when a turn ends), lines of espeak-made
// speech, barge-ins while the bot talks, a new session part-way — and records when
// everything happened, in Unix epoch milliseconds, for the bench to line up with the
// agent's own marks and the LLM's.
//
//   node -r ts-node/register/transpile-only scripts/lab/conversation.ts SCRIPT.json RESULT.json
//
// It runs inside the lab's "phone" network namespace (bench:cluster starts it there).
import { readFileSync, writeFileSync } from "node:fs";
import { ScriptedClient } from "../../agent/src/transport/scripted-client";
import type { RtviMessage } from "../../agent/src/transport/wire";
import type { TurnLatency } from "../../agent/src/metrics";

/** typed: sent as text from the page (the lab's recognizer says one sentence for any
 * speech, so what long-term memory recalls across sessions is shown with typed lines). */
export type TurnKind = "spoken" | "barge-in" | "describe-scene" | "typed";

export interface ScriptTurn {
  line: string;
  /** Raw PCM16 mono 16 kHz of the line (speech only; the microphone adds the silences). */
  pcmFile: string;
  /** barge-in: spoken over the bot's previous answer, `bargeInAfterMs` after it started. */
  kind: TurnKind;
  /** Open a new session (a new page load) before this line. */
  newSession?: boolean;
}

export interface ConversationScript {
  wsUrl: string;
  /** POSTed before a describe-scene line: the lab's LLM tap forces that turn's tool call. */
  forceToolUrl: string;
  turns: ScriptTurn[];
  /** Silence before each line (ms). */
  pauseMs: number;
  bargeInAfterMs: number;
  /** Longest wait for an answer to a line (ms). */
  turnTimeoutMs: number;
}

export interface TurnRecord {
  index: number;
  line: string;
  kind: TurnKind;
  session: number;
  speechStart: number;
  /** The last speech sample went out: the user stopped speaking. */
  speechEnd: number;
  /** First bot audio that arrived after the user stopped (what the user hears first). */
  firstAudio?: number;
  botStopped?: number;
  /** The agent's figures and marks for this turn (latency-report). */
  report?: TurnLatency;
  transcript?: string;
  /** For a line spoken over the bot: when the bot's audio stopped arriving. */
  interruptedBotAudioEnd?: number;
  error?: string;
}

export interface ConversationResult {
  turns: TurnRecord[];
  startedAt: number;
  endedAt: number;
}

const CHUNK = 512; // samples per mic message, as pipecat's WavMediaManager(512, 16000) sends
const CHUNK_MS = (CHUNK / 16000) * 1000;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** A microphone: a chunk every 32 ms, speech when some is queued, silence otherwise. */
class Microphone {
  private queue: { pcm: Int16Array; done: (endedAt: number) => void; started: (at: number) => void }[] = [];
  private stopped = false;
  private readonly silence = new Int16Array(CHUNK);
  client: ScriptedClient | undefined;

  async run(): Promise<void> {
    let next = performance.now();
    let offset = 0;
    while (!this.stopped) {
      const item = this.queue[0];
      let chunk: Int16Array = this.silence;
      let ended = false;
      if (item) {
        if (offset === 0) item.started(now());
        chunk = item.pcm.subarray(offset, offset + CHUNK);
        offset += CHUNK;
        ended = offset >= item.pcm.length;
      }
      if (this.client?.isOpen) this.client.sendAudio(padded(chunk));
      if (ended) {
        this.queue.shift();
        offset = 0;
        item!.done(now());
      }
      next += CHUNK_MS;
      await sleep(next - performance.now());
    }
  }

  /** Resolves when the line has been spoken, with when it started and ended. */
  say(pcm: Int16Array): Promise<{ start: number; end: number }> {
    return new Promise((resolve) => {
      let start = 0;
      this.queue.push({ pcm, started: (at) => { start = at; }, done: (end) => resolve({ start, end }) });
    });
  }

  stop(): void {
    this.stopped = true;
  }
}

function padded(chunk: Int16Array): Int16Array {
  if (chunk.length === CHUNK) return chunk;
  const out = new Int16Array(CHUNK);
  out.set(chunk);
  return out;
}

function readPcm(file: string): Int16Array {
  const b = readFileSync(file);
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** A typed line: said, as far as the agent can tell, the moment it is sent. */
function typed(client: ScriptedClient, line: string): { start: number; end: number } {
  const at = now();
  client.sendText(line);
  return { start: at, end: at };
}

function isReport(m: RtviMessage): boolean {
  const d = m.data as { type?: string } | undefined;
  return m.type === "server-message" && d?.type === "latency-report";
}

export async function playConversation(script: ConversationScript, log: (line: string) => void = () => undefined): Promise<ConversationResult> {
  const mic = new Microphone();
  const running = mic.run();
  const records: TurnRecord[] = [];
  const startedAt = now();
  let client: ScriptedClient | undefined;
  let session = 0;
  try {
    for (const [index, turn] of script.turns.entries()) {
      if (!client || turn.newSession) {
        client?.close();
        client = await ScriptedClient.connect(script.wsUrl, 20_000);
        await client.ready(20_000);
        mic.client = client;
        session++;
      }
      const c = client;
      const record: TurnRecord = { index, line: turn.line, kind: turn.kind, session, speechStart: 0, speechEnd: 0 };
      records.push(record);
      try {
        if (turn.kind === "describe-scene") {
          const res = await fetch(script.forceToolUrl, { method: "POST" });
          if (!res.ok) throw new Error(`the LLM tap refused to force the tool call: ${res.status}`);
        }
        const previous = records[index - 1];
        if (turn.kind === "barge-in" && previous) {
          // Talk over the previous answer once it has been playing for a while.
          await c.waitFor(() => previous.firstAudio ?? (previous.error ? -1 : undefined), script.turnTimeoutMs, "the answer to talk over");
          await sleep((previous.firstAudio ?? now()) + script.bargeInAfterMs - now());
        } else {
          await sleep(script.pauseMs);
        }
        const audioBefore = c.audio.length;
        const messagesBefore = c.messages.length;
        const spoken = turn.kind === "typed" ? typed(c, turn.line) : await mic.say(readPcm(turn.pcmFile));
        record.speechStart = spoken.start;
        record.speechEnd = spoken.end;
        if (turn.kind === "barge-in" && previous) {
          // The old answer's audio stops arriving while the user talks over it; its last
          // packet in that window is when the user stopped hearing it.
          const during = c.audio.slice(audioBefore).map((a) => performance.timeOrigin + a.at).filter((at) => at >= spoken.start && at <= spoken.end);
          if (during.length) previous.interruptedBotAudioEnd = during[during.length - 1];
        }
        const report = await c.waitForMessage(isReport, script.turnTimeoutMs, messagesBefore);
        record.report = report.data as TurnLatency;
        // The report goes out as the first audio does: the packet itself may land just after.
        // This answer's first audio: not the previous answer resuming after the user spoke
        // into its pause (it arrives before this answer's bot-started-speaking mark).
        const started = record.report.at?.["bot-started-speaking"] ?? spoken.end;
        const heard = await c.waitFor(() => c.audio.slice(audioBefore).find((a) => performance.timeOrigin + a.at > Math.max(spoken.end, started - 5)), 5000, "the answer's first audio").catch(() => undefined);
        if (heard) record.firstAudio = performance.timeOrigin + heard.at;
        const transcript = c.messages.slice(messagesBefore).find((m) => m.message.type === "user-transcription" && (m.message.data as { final?: boolean })?.final);
        record.transcript = (transcript?.message.data as { text?: string } | undefined)?.text;
        const next = script.turns[index + 1];
        if (!next || next.kind !== "barge-in") {
          // Let the bot finish, as a listener would, before the next line.
          // (A bot-stopped-speaking of the answer this line talked over may come first.)
          const heardAt = heard?.at ?? 0;
          const stopped = await c.waitFor(() => c.messages.slice(messagesBefore).find((m) => m.message.type === "bot-stopped-speaking" && m.at >= heardAt), script.turnTimeoutMs, "the end of the answer").catch(() => undefined);
          if (stopped) record.botStopped = performance.timeOrigin + stopped.at;
        }
        log(`turn ${index + 1} (${turn.kind}): v2v ${record.firstAudio ? ((record.firstAudio - record.speechEnd) / 1000).toFixed(2) : "n/a"} s`);
      } catch (error) {
        record.error = (error as Error).message;
        log(`turn ${index + 1} (${turn.kind}): ${record.error}`);
      }
    }
  } finally {
    mic.stop();
    await running;
    client?.close();
  }
  return { turns: records, startedAt, endedAt: now() };
}

if (require.main === module) {
  const [scriptFile, resultFile] = process.argv.slice(2);
  if (!scriptFile || !resultFile) {
    process.stderr.write("usage: conversation.ts SCRIPT.json RESULT.json\n");
    process.exit(2);
  }
  const script = JSON.parse(readFileSync(scriptFile, "utf8")) as ConversationScript;
  playConversation(script, (line) => process.stdout.write(`${line}\n`))
    .then((result) => {
      writeFileSync(resultFile, JSON.stringify(result));
      process.exit(0);
    })
    .catch((error) => {
      process.stderr.write(`conversation failed: ${(error as Error).message}\n`);
      process.exit(1);
    });
}
