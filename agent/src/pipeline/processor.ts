/**
 * FrameProcessor: one small stage of the pipeline.
 *
 *   class Shout extends FrameProcessor {
 *     protected async process(frame: Frame, direction: Direction) {
 *       if (frame.type === "llm-text") frame = { ...frame, text: frame.text.toUpperCase() };
 *       this.push(frame, direction);
 *     }
 *   }
 *
 * Each processor has three lanes, each handled one item at a time, in order:
 * - system    — system frames, either direction. Keep their handling quick; long work
 *               goes to `schedule()`.
 * - downstream — data/control frames travelling downstream, and scheduled tasks. An
 *               `interruption` (or `cancel`) empties it at once, aborts `this.signal`, and
 *               drops any data/control frame the stale in-flight item still pushes.
 *               A `cancel` empties the system lane too: the session is ending.
 * - upstream  — data/control frames travelling upstream (e.g. `bot-spoken-text`). Never
 *               emptied by interruptions: they report what already happened.
 *
 * A throw inside `process` becomes a non-fatal `error` frame pushed upstream (the input
 * transport tells the user); aborts caused by an interruption are silent.
 */
import { isAbort } from "../abort";
import { Direction, Frame, frame as makeFrame } from "./frames";

type Task = (signal: AbortSignal) => Promise<void>;
type Work = { frame: Frame; direction: Direction } | { task: Task; label: string };

/** A first-in first-out queue drained by one async loop at a time. */
class Lane {
  private items: Work[] = [];
  private head = 0;
  private draining = false;
  private idleWaiters: Array<() => void> = [];
  /** The interruption generation of the item being handled, or undefined when idle. */
  inFlightGeneration: number | undefined;

  constructor(private readonly run: (work: Work) => Promise<void>, private readonly generation: () => number) {}

  add(work: Work): void {
    this.items.push(work);
    if (!this.draining) void this.drain();
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  get busy(): boolean {
    return this.draining;
  }

  idle(): Promise<void> {
    return this.draining ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.head < this.items.length) {
      const work = this.items[this.head++];
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.inFlightGeneration = this.generation();
      await this.run(work);
      this.inFlightGeneration = undefined;
    }
    this.items = [];
    this.head = 0;
    this.draining = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

export abstract class FrameProcessor {
  readonly name: string;
  private next: FrameProcessor | undefined;
  private prev: FrameProcessor | undefined;
  private generation = 0;
  private controller = new AbortController();
  private cancelled = false;
  private readonly systemLane: Lane;
  private readonly downstreamLane: Lane;
  private readonly upstreamLane: Lane;
  /** Interruptions (or a cancel) queued in the system lane and not yet handled. */
  private interruptionsQueued = 0;
  /** Downstream data/control frames pushed meanwhile: they go out after the interruption. */
  private heldBehindInterruption: Frame[] = [];

  constructor(name?: string) {
    this.name = name ?? this.constructor.name;
    const generation = () => this.generation;
    this.systemLane = new Lane((w) => this.runWork(w), generation);
    this.downstreamLane = new Lane((w) => this.runWork(w), generation);
    this.upstreamLane = new Lane((w) => this.runWork(w), generation);
  }

  /** Handle one frame; the default passes it on unchanged. */
  protected async process(frame: Frame, direction: Direction): Promise<void> {
    this.push(frame, direction);
  }

  /** Called synchronously when an interruption or cancel arrives, before any lane sees it. */
  protected onInterruption(): void {}

  /** Release resources (models, sockets, timers); called once when the pipeline stops. */
  async cleanup(): Promise<void> {}

  /** Aborted by the next interruption or cancel; pass it to every slow call. */
  protected get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Connects this processor's downstream side to `next`. */
  link(next: FrameProcessor): void {
    this.next = next;
    next.prev = this;
  }

  /** Entry point used by the neighbours (and by the pipeline's edges). */
  queueFrame(frame: Frame, direction: Direction = "downstream"): void {
    if (frame.type === "interruption" || frame.type === "cancel") {
      this.interruptNow(frame.type === "cancel");
      this.interruptionsQueued++;
    }
    if (frame.kind === "system") {
      this.systemLane.add({ frame, direction });
      return;
    }
    if (this.cancelled) return;
    (direction === "downstream" ? this.downstreamLane : this.upstreamLane).add({ frame, direction });
  }

  /** Sends a frame to the neighbour in `direction`. */
  protected push(frame: Frame, direction: Direction = "downstream"): void {
    if (frame.kind !== "system") {
      if (this.cancelled) return;
      // A data/control frame pushed by work that started before the last interruption
      // belongs to the answer the user talked over: it must not reach the speaker.
      const started = this.downstreamLane.inFlightGeneration;
      if (direction === "downstream" && started !== undefined && started !== this.generation) return;
      // A frame of the new answer must not overtake the interruption that made room for it:
      // arriving first, it would be dropped by that interruption one stage further on
      // (seen with 300 typed turns in a burst: the last one was never answered).
      if (direction === "downstream" && this.interruptionsQueued > 0) {
        this.heldBehindInterruption.push(frame);
        return;
      }
    }
    const target = direction === "downstream" ? this.next : this.prev;
    target?.queueFrame(frame, direction);
  }

  /**
   * Runs `task` in the downstream lane, after the frames already queued there. Use it for
   * long work started by a system frame (e.g. transcribing when the user stops speaking).
   * Interruptions drop it if it has not started and abort its signal if it has.
   */
  protected schedule(label: string, task: Task): void {
    if (this.cancelled) return;
    this.downstreamLane.add({ task, label });
  }

  /** Resolves when all three lanes are empty and nothing is in flight. */
  async idle(): Promise<void> {
    while (this.busy) {
      await Promise.all([this.systemLane.idle(), this.downstreamLane.idle(), this.upstreamLane.idle()]);
    }
  }

  get busy(): boolean {
    return this.systemLane.busy || this.downstreamLane.busy || this.upstreamLane.busy;
  }

  private interruptNow(cancel: boolean): void {
    this.generation++;
    this.controller.abort();
    this.controller = new AbortController();
    this.downstreamLane.clear();
    // Held frames came before this interruption: they belong to the answer it ends.
    this.heldBehindInterruption = [];
    if (cancel) {
      this.cancelled = true;
      this.upstreamLane.clear();
      // Queued system frames (mostly microphone audio) are for a session that is ending:
      // handling them would only keep a core busy after the client has gone.
      this.systemLane.clear();
    }
    try {
      this.onInterruption();
    } catch (error) {
      this.reportError(error);
    }
  }

  private async runWork(work: Work): Promise<void> {
    const generation = this.generation;
    try {
      if ("task" in work) await work.task(this.controller.signal);
      else await this.process(work.frame, work.direction);
    } catch (error) {
      // An interruption aborted this work: that is the expected way for it to end.
      if (generation !== this.generation || isAbort(error)) return;
      this.reportError(error);
    } finally {
      if ("frame" in work && (work.frame.type === "interruption" || work.frame.type === "cancel")) this.interruptionHandled();
    }
  }

  /** The interruption went on (or was swallowed): frames held behind it follow, in order. */
  private interruptionHandled(): void {
    if (--this.interruptionsQueued > 0 || this.cancelled) return;
    const held = this.heldBehindInterruption;
    this.heldBehindInterruption = [];
    for (const f of held) this.next?.queueFrame(f, "downstream");
  }

  private reportError(error: unknown): void {
    const message = `${this.name}: ${error instanceof Error ? error.message : String(error)}`;
    this.push(makeFrame("error", { message, fatal: false }), "upstream");
  }
}
