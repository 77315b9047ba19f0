export { LatencyReporter, TurnMarks, formatTurnLatency, benchmarkModeFromEnv, LATENCY_FIGURES } from "./turn-report";
export type { LatencyReporterOptions, TurnLatency, LatencyFigure } from "./turn-report";
