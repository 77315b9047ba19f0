/**
 * Benchmark mode (seed §9.2): after each turn the seed's four-line block, seconds with 4
 * decimals, printed and sent to the page; the brain's own mark comes from a real turn.
 */
import { Pipeline, frame, type Frame, type MetricsMark } from "../../src/pipeline";
import { LatencyReporter, formatTurnLatency, type TurnLatency } from "../../src/metrics";
import { TwinService } from "../../src/twin";
import type { RunningProcess } from "../../../lib/llama";
import { startTinyLlm } from "../llm/tiny-llm";

const mark = (turnId: number, m: MetricsMark, at: number): Frame => frame("metrics", { turnId, mark: m, at });

describe("benchmark report", () => {
  it("prints exactly the seed's block, in seconds with 4 decimals, once the bot starts speaking", () => {
    const printed: string[] = [];
    const page: Frame[] = [];
    const reporter = new LatencyReporter({ benchmark: true, print: (b) => printed.push(b), sendToPage: (f) => page.push(f) });
    reporter.observe(mark(3, "user-stopped-speaking", 1000));
    reporter.observe(mark(3, "transcript-final", 1123.4));
    reporter.observe(mark(3, "llm-first-token", 1400));
    reporter.observe(mark(3, "tts-first-audio", 1500.2));
    expect(printed).toEqual([]);
    reporter.observe(mark(3, "bot-started-speaking", 1612.34567));
    expect(printed).toEqual([
      ["STT Latency: 0.1234s", "LLM Time to First Token: 0.2766s", "TTS Time to First Audio: 0.1002s", "Total Pipeline Latency: 0.6123s"].join("\n"),
    ]);
    expect(page).toEqual([
      {
        type: "server-message",
        kind: "system",
        data: {
          type: "latency-report",
          turnId: 3,
          sttLatency: expect.closeTo(0.1234, 6),
          llmTimeToFirstToken: expect.closeTo(0.2766, 6),
          ttsTimeToFirstAudio: expect.closeTo(0.1002, 6),
          totalPipelineLatency: expect.closeTo(0.61234567, 6),
          // Epoch milliseconds, so another process on the machine can line the marks up.
          at: {
            "user-stopped-speaking": expect.closeTo(performance.timeOrigin + 1000, 3),
            "transcript-final": expect.closeTo(performance.timeOrigin + 1123.4, 3),
            "llm-first-token": expect.closeTo(performance.timeOrigin + 1400, 3),
            "tts-first-audio": expect.closeTo(performance.timeOrigin + 1500.2, 3),
            "bot-started-speaking": expect.closeTo(performance.timeOrigin + 1612.34567, 3),
          },
          text: printed[0],
        },
      },
    ]);
    // The same marks seen again (at the other edge of the pipeline) do not report twice.
    reporter.observe(mark(3, "bot-started-speaking", 1700));
    expect(printed).toHaveLength(1);
  });

  it("says n/a for a stage that did not run, and prints nothing outside benchmark mode", () => {
    expect(formatTurnLatency({ turnId: 1, llmTimeToFirstToken: 0.05 })).toBe(
      "STT Latency: n/a\nLLM Time to First Token: 0.0500s\nTTS Time to First Audio: n/a\nTotal Pipeline Latency: n/a",
    );
    const printed: string[] = [];
    const reports: TurnLatency[] = [];
    const quiet = new LatencyReporter({ benchmark: false, print: (b) => printed.push(b), onReport: (r) => reports.push(r) });
    quiet.observe(mark(1, "user-stopped-speaking", 0));
    quiet.observe(mark(1, "bot-started-speaking", 2500));
    expect(printed).toEqual([]);
    expect(reports).toEqual([{ turnId: 1, totalPipelineLatency: 2.5, at: { "user-stopped-speaking": performance.timeOrigin, "bot-started-speaking": performance.timeOrigin + 2500 } }]);
  });
});

describe("benchmark mode with the brain", () => {
  let server: RunningProcess;
  beforeAll(async () => {
    server = await startTinyLlm();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("times the brain's first token from the final transcript of a real turn", async () => {
    const printed: string[] = [];
    const reporter = new LatencyReporter({ benchmark: true, print: (b) => printed.push(b) });
    const twin = new TwinService({ llm: { baseUrl: server.url, slotId: 0, maxTokens: 8, temperature: 0 }, log: () => undefined });
    let first = true;
    const pipeline = new Pipeline([twin], {
      onDownstreamOut: (f) => {
        reporter.observe(f);
        // Plays TTS + output transport: stamps audio marks on the first word.
        if (f.type === "llm-text" && first) {
          first = false;
          reporter.observe(mark(1, "tts-first-audio", performance.now()));
          reporter.observe(mark(1, "bot-started-speaking", performance.now()));
        }
      },
    });
    pipeline.start();
    const final = performance.now();
    reporter.observe(mark(1, "user-stopped-speaking", final - 50));
    reporter.observe(mark(1, "transcript-final", final));
    pipeline.queueFrame(frame("transcription", { text: "how fast are you?", final: true, turnId: 1 }));
    await pipeline.idle();
    await pipeline.stop();
    expect(printed).toHaveLength(1);
    const lines = printed[0].split("\n");
    expect(lines[0]).toBe("STT Latency: 0.0500s");
    expect(lines[1]).toMatch(/^LLM Time to First Token: \d+\.\d{4}s$/);
    const ttft = Number(/(\d+\.\d{4})s$/.exec(lines[1])![1]);
    expect(ttft).toBeGreaterThan(0);
    expect(ttft).toBeLessThan(5);
    expect(lines[2]).toMatch(/^TTS Time to First Audio: \d+\.\d{4}s$/);
    expect(lines[3]).toMatch(/^Total Pipeline Latency: \d+\.\d{4}s$/);
  });
});
