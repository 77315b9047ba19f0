/**
 * One turn's latency report (seed §9.2), computed from the marks the stages stamp:
 *
 *   STT Latency              = transcript-final     − user-stopped-speaking
 *   LLM Time to First Token  = llm-first-token      − transcript-final
 *   TTS Time to First Audio  = tts-first-audio      − llm-first-token
 *   Total Pipeline Latency   = bot-started-speaking − user-stopped-speaking
 *
 * Marks are `performance.now()` milliseconds in the agent process; figures are seconds.
 */
import type { Frame, MetricsMark } from "../pipeline";

export interface TurnLatency {
  turnId: number;
  sttLatency?: number;
  llmTimeToFirstToken?: number;
  ttsTimeToFirstAudio?: number;
  totalPipelineLatency?: number;
  /** When each mark was stamped, as Unix epoch milliseconds (performance.timeOrigin +
   * the mark), so a process on the same machine (the cluster lab) can place this turn's
   * stages on its own timeline. */
  at?: Partial<Record<MetricsMark, number>>;
}

export const LATENCY_FIGURES = [
  ["sttLatency", "STT Latency", "transcript-final", "user-stopped-speaking"],
  ["llmTimeToFirstToken", "LLM Time to First Token", "llm-first-token", "transcript-final"],
  ["ttsTimeToFirstAudio", "TTS Time to First Audio", "tts-first-audio", "llm-first-token"],
  ["totalPipelineLatency", "Total Pipeline Latency", "bot-started-speaking", "user-stopped-speaking"],
] as const satisfies readonly (readonly [Exclude<keyof TurnLatency, "turnId">, string, MetricsMark, MetricsMark])[];

export type LatencyFigure = (typeof LATENCY_FIGURES)[number][0];

/** The seed's block, exactly: four lines, seconds with 4 decimals ("n/a" when a stage did not run). */
export function formatTurnLatency(report: TurnLatency): string {
  return LATENCY_FIGURES.map(([key, label]) => {
    const value = report[key];
    return `${label}: ${value === undefined ? "n/a" : `${value.toFixed(4)}s`}`;
  }).join("\n");
}

/**
 * The block as the seed's benchmark mode prints it: a header, the four figures, a rule.
 * One write, no prefix on any line, so no other log line can land inside it and a script
 * can cut it out of the agent's output (npm start's own lines are prefixed, this is not).
 */
export function printBenchmarkBlock(figures: string, out: { write(text: string): unknown } = process.stdout): void {
  out.write(`--- BENCHMARK RESULTS ---\n${figures}\n-------------------------\n`);
}

/** Collects marks per turn; the first mark of a kind wins (a stage may stamp twice). */
export class TurnMarks {
  private readonly turns = new Map<number, Partial<Record<MetricsMark, number>>>();

  constructor(private readonly keepTurns = 32) {}

  add(turnId: number, mark: MetricsMark, at: number): void {
    let marks = this.turns.get(turnId);
    if (!marks) {
      marks = {};
      this.turns.set(turnId, marks);
      // Turns that never complete (interrupted before audio) must not pile up.
      while (this.turns.size > this.keepTurns) this.turns.delete(this.turns.keys().next().value as number);
    }
    if (marks[mark] === undefined) marks[mark] = at;
  }

  has(turnId: number, mark: MetricsMark): boolean {
    return this.turns.get(turnId)?.[mark] !== undefined;
  }

  report(turnId: number): TurnLatency {
    const marks = this.turns.get(turnId) ?? {};
    const report: TurnLatency = { turnId, at: {} };
    for (const [mark, t] of Object.entries(marks) as [MetricsMark, number][]) report.at![mark] = performance.timeOrigin + t;
    for (const [key, , end, start] of LATENCY_FIGURES) {
      const a = marks[start];
      const b = marks[end];
      if (a !== undefined && b !== undefined) report[key] = (b - a) / 1000;
    }
    return report;
  }

  forget(turnId: number): void {
    this.turns.delete(turnId);
  }
}

export interface LatencyReporterOptions {
  /** Print the seed's block after each turn (BENCHMARK_MODE=true). */
  benchmark: boolean;
  /** Where the four figures go (default: printBenchmarkBlock, to stdout). */
  print?: (block: string) => void;
  /** Hands the page its copy (a `server-message` frame for the transport). */
  sendToPage?: (frame: Frame) => void;
  /** Every finished turn, benchmark or not (benches collect figures from here). */
  onReport?: (report: TurnLatency) => void;
}

/**
 * Watches the metrics frames wherever the pipeline hands them over (both edges: stages
 * stamp marks in either direction) and reports a turn once the bot starts speaking.
 */
export class LatencyReporter {
  private readonly marks = new TurnMarks();
  /** Turns already reported: a mark seen again at the other edge must not report twice. */
  private readonly reported: number[] = [];

  constructor(private readonly options: LatencyReporterOptions) {}

  observe(frame: Frame): TurnLatency | undefined {
    if (frame.type !== "metrics") return undefined;
    if (this.reported.includes(frame.turnId) || this.marks.has(frame.turnId, frame.mark)) return undefined;
    this.marks.add(frame.turnId, frame.mark, frame.at);
    return frame.mark === "bot-started-speaking" ? this.finish(frame.turnId) : undefined;
  }

  /** Reports a turn now (e.g. a text-only run with no audio out). */
  finish(turnId: number): TurnLatency {
    const report = this.marks.report(turnId);
    this.marks.forget(turnId);
    this.reported.push(turnId);
    if (this.reported.length > 64) this.reported.shift();
    const block = formatTurnLatency(report);
    if (this.options.benchmark) {
      (this.options.print ?? printBenchmarkBlock)(block);
      this.options.sendToPage?.({
        type: "server-message",
        kind: "system",
        data: { type: "latency-report", ...report, text: block },
      });
    }
    this.options.onReport?.(report);
    return report;
  }
}
