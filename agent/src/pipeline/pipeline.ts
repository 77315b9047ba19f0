/**
 * Pipeline: a list of processors you can read aloud, linked in order.
 *
 *   new Pipeline([inputTransport, vad, stt, twin, tts, outputTransport])
 *
 * A conversation's list is assembled in one place: processors/voice-pipeline.ts.
 *
 * Frames leaving the last processor downstream, or the first one upstream, are handed
 * to `onDownstreamOut` / `onUpstreamOut` (tests observe them there; errors nobody
 * handled end up there too).
 */
import { Direction, Frame, frame } from "./frames";
import { FrameProcessor } from "./processor";

export interface PipelineEdges {
  onDownstreamOut?(frame: Frame): void;
  onUpstreamOut?(frame: Frame): void;
}

/** A pipeline edge: hands whatever reaches it to a callback. */
class PipelineEdge extends FrameProcessor {
  constructor(name: string, private readonly deliver: (frame: Frame, direction: Direction) => void) {
    super(name);
  }

  protected async process(frame: Frame, direction: Direction): Promise<void> {
    this.deliver(frame, direction);
  }

  forward(frame: Frame, direction: Direction): void {
    this.push(frame, direction);
  }
}

export class Pipeline {
  private readonly source: PipelineEdge;
  private readonly sink: PipelineEdge;
  private stopped = false;

  constructor(readonly processors: FrameProcessor[], edges: PipelineEdges = {}) {
    this.source = new PipelineEdge("PipelineSource", (f, direction) => {
      if (direction === "upstream") edges.onUpstreamOut?.(f);
      else this.source.forward(f, direction);
    });
    this.sink = new PipelineEdge("PipelineSink", (f, direction) => {
      if (direction === "downstream") edges.onDownstreamOut?.(f);
      else this.sink.forward(f, direction);
    });
    const chain = [this.source, ...processors, this.sink];
    for (let i = 0; i + 1 < chain.length; i++) chain[i].link(chain[i + 1]);
  }

  /** Puts a frame in at the start (downstream) or at the end (upstream). */
  queueFrame(f: Frame, direction: Direction = "downstream"): void {
    if (this.stopped) return;
    (direction === "downstream" ? this.source : this.sink).queueFrame(f, direction);
  }

  start(sessionId?: string): void {
    this.queueFrame(frame("start", { sessionId }));
  }

  /** Cancels everything in flight and releases every processor's resources. Idempotent. */
  async stop(reason = "stopped"): Promise<void> {
    if (this.stopped) return;
    this.queueFrame(frame("cancel", { reason }));
    this.stopped = true;
    await this.idle();
    const results = await Promise.allSettled(this.processors.map((p) => p.cleanup()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) throw new Error(`pipeline cleanup failed: ${failed.map((r) => String(r.reason)).join("; ")}`);
  }

  /** Resolves when no processor has anything queued or in flight. */
  async idle(): Promise<void> {
    const all = [this.source, ...this.processors, this.sink];
    // A processor going idle can wake its neighbour, so check until a full pass is quiet.
    do {
      await Promise.all(all.map((p) => p.idle()));
      await new Promise((resolve) => setImmediate(resolve));
    } while (all.some((p) => p.busy));
  }
}
