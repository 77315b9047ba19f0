export { LatencyReporter, TurnMarks, formatTurnLatency, printBenchmarkBlock, LATENCY_FIGURES } from "./turn-report";
export type { LatencyReporterOptions, TurnLatency, LatencyFigure } from "./turn-report";
