/**
 * One client's conversation: its own pipeline, turn counter and metrics, so sessions
 * never hear each other. The session owns the pipeline's two ends (the client's input
 * and output); the factory it is given builds the pipeline between and around them
 * (processors/voice-pipeline.ts in the agent).
 */
import { BotState, FrameProcessor, MetricsFrame, Pipeline, TurnCounter } from "../pipeline";
import { ClientInputTransport } from "./client-input";
import { ClientLink, ClientSocket } from "./client-link";
import { ClientOutputOptions, ClientOutputTransport } from "./client-output";

export interface SessionContext {
  sessionId: string;
  turns: TurnCounter;
  /** Whether the bot speaks or owes an answer: the stages that decide by it share this one. */
  bot: BotState;
  /** The pipeline's first stage: what the client sends comes in here. */
  input: FrameProcessor;
  /** The pipeline's last stage: what reaches it is sent to the client. */
  output: FrameProcessor;
  /** Every metrics mark of this session ends up here (benchmark report, tests). */
  onMetrics(listener: (frame: MetricsFrame) => void): void;
  /** Sends the page an RTVI `server-message` (e.g. a turn's latency figures). */
  sendServerMessage(data: unknown): void;
}

/** Builds a session's pipeline, `input` first and `output` last; called once per connection. */
export type StageFactory = (context: SessionContext) => FrameProcessor[] | Promise<FrameProcessor[]>;

export interface SessionOptions {
  maxMessageBytes?: number;
  /** Microphone audio accepted ahead of real time, ms (default 1000). */
  audioBurstMs?: number;
  /** Replies waiting for a client that does not read before its session is closed (default 256 KiB). */
  maxBufferedBytes?: number;
  output?: Omit<ClientOutputOptions, "turns">;
  /** Sent to the page in bot-ready's `about`. */
  about?: Record<string, string | boolean>;
}

const EARLY_BYTES = 1024 * 1024;

export class Session {
  readonly turns = new TurnCounter();
  readonly bot = new BotState();
  readonly input: ClientInputTransport;
  readonly output: ClientOutputTransport;
  readonly link: ClientLink;
  private pipeline: Pipeline | undefined;
  private readonly metricsListeners: Array<(frame: MetricsFrame) => void> = [];
  private closed = false;
  private readonly early: Array<Uint8Array | string> = [];
  private earlyBytes = 0;
  /** The client said client-ready: a live conversation, not just an open socket. */
  live = false;

  constructor(readonly id: string, socket: ClientSocket, options: SessionOptions = {}) {
    this.link = new ClientLink(socket, (f) => { for (const l of this.metricsListeners) l(f); }, options.maxBufferedBytes);
    this.input = new ClientInputTransport(this.link, {
      turns: this.turns,
      bot: this.bot,
      maxMessageBytes: options.maxMessageBytes,
      audioBurstMs: options.audioBurstMs,
      onDisconnectRequested: () => this.link.close(1000, "client asked to disconnect"),
      onClientReady: () => { this.live = true; },
      about: options.about,
    });
    this.output = new ClientOutputTransport(this.link, { ...options.output, turns: this.turns });
  }

  /** Builds the pipeline and starts; messages that arrive meanwhile are kept in order. */
  async start(stages: StageFactory): Promise<void> {
    const processors = await stages({
      sessionId: this.id,
      turns: this.turns,
      bot: this.bot,
      input: this.input,
      output: this.output,
      onMetrics: (listener) => this.metricsListeners.push(listener),
      sendServerMessage: (data) => this.link.sendRtvi("server-message", data),
    });
    if (processors[0] !== this.input || processors[processors.length - 1] !== this.output) {
      await Promise.allSettled(processors.map((p) => p.cleanup()));
      throw new Error("a session's pipeline runs from its input to its output: put context.input first and context.output last");
    }
    if (this.closed) {
      await Promise.allSettled(processors.map((p) => p.cleanup()));
      return;
    }
    this.pipeline = new Pipeline(processors);
    this.pipeline.start(this.id);
    for (const m of this.early.splice(0)) this.input.receive(m);
    this.earlyBytes = 0;
  }

  receive(message: Uint8Array | string): void {
    if (this.closed) return;
    if (!this.pipeline) {
      // Held only while the stages are built (a few ms); a flood meanwhile is not kept.
      const size = typeof message === "string" ? message.length : message.byteLength;
      if (this.early.length < 1000 && this.earlyBytes + size <= EARLY_BYTES) {
        this.early.push(message);
        this.earlyBytes += size;
      }
      return;
    }
    this.input.receive(message);
  }

  /** The client went away (or the server is stopping): cancel everything in flight. */
  async close(reason = "client disconnected"): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.early.length = 0;
    await this.pipeline?.stop(reason);
  }
}
