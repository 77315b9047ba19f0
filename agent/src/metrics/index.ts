export { LatencyReporter, TurnMarks, formatTurnLatency, LATENCY_FIGURES } from "./turn-report";
export type { LatencyReporterOptions, TurnLatency, LatencyFigure } from "./turn-report";
