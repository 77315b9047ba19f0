// One TCP connection speaking Wyoming: the events that arrive, in order, as an async
// iterable, and send() that waits when the peer reads slower than we write.
import type { Socket } from "node:net";
import { Channel } from "../services/tts/channel";
import { encodeEvent, EventParser, WyomingEvent, WyomingLimits } from "./codec";

export class WyomingConnection {
  private readonly incoming: Channel<WyomingEvent>;
  private readonly parser: EventParser;
  private closed = false;
  /** Why the connection ended, when it was not a clean close by the peer or by us. */
  failure?: Error;

  constructor(readonly socket: Socket, limits: Partial<WyomingLimits> = {}) {
    this.parser = new EventParser(limits);
    this.incoming = new Channel<WyomingEvent>();
    socket.setNoDelay(true); // audio chunks are small and late ones are useless
    socket.on("data", (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.parser.push(chunk, (e) => this.incoming.push(e));
      } catch (error) {
        this.fail(error as Error);
      }
    });
    socket.on("end", () => {
      if (this.closed) return;
      try {
        this.parser.end();
        this.finish();
      } catch (error) {
        this.fail(error as Error);
      }
    });
    socket.on("error", (error) => this.fail(error));
    socket.on("close", () => this.finish());
  }

  /** Events from the peer; ends when the peer closes, throws what broke the stream. */
  events(): AsyncIterable<WyomingEvent> {
    return this.incoming;
  }

  get isClosed(): boolean {
    return this.socket.destroyed || !this.socket.writable;
  }

  async send(e: WyomingEvent): Promise<void> {
    if (this.isClosed) throw this.failure ?? new Error("Wyoming connection is closed");
    if (this.socket.write(encodeEvent(e))) return;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        this.socket.off("drain", done);
        this.socket.off("close", onClose);
        if (error) reject(error);
        else resolve();
      };
      const onClose = () => done(this.failure ?? new Error("Wyoming connection closed while sending"));
      this.socket.once("drain", done);
      this.socket.once("close", onClose);
    });
  }

  /** Half-closes after what was sent is flushed (the peer still reads it all). */
  end(): void {
    this.finish();
    this.socket.end();
  }

  /** Drops the connection at once, e.g. on an abort: nothing more is read or delivered. */
  destroy(): void {
    this.finish();
    this.socket.destroy();
  }

  /**
   * Stops reading and reports `error` to whoever iterates events(). The socket stays
   * writable (a server still sends its `error` event); its owner closes it.
   */
  fail(error: Error): void {
    if (this.closed) return;
    this.failure = error;
    this.closed = true;
    this.socket.pause();
    this.incoming.close(error);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.incoming.close();
  }
}
