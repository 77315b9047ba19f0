// A Wyoming TCP server: answers `describe` with the service's `info`, hands every other
// event to the service's per-connection session, in order. A peer that breaks the
// protocol (or asks for something the service refuses) gets an `error` event saying
// what to change and its connection is closed; every other connection goes on.
import { createServer, Server, Socket } from "node:net";
import { event, WyomingEvent, WyomingLimits, WyomingProtocolError } from "./codec";
import { WyomingConnection } from "./connection";

/** A request the service refuses: sent to the peer as an `error` event, then the connection closes. */
export class WyomingRequestError extends Error {
  constructor(message: string, readonly code = "bad-request") {
    super(message);
    this.name = "WyomingRequestError";
  }
}

export interface WyomingSession {
  /** One event from the peer (not `describe`); `signal` aborts when the peer goes away. */
  handle(e: WyomingEvent, signal: AbortSignal): Promise<void>;
}

export interface WyomingService {
  /** "stt" or "tts": names the service in log lines. */
  readonly kind: string;
  /** The `info` event's data, the answer to `describe`. */
  info(): Record<string, unknown>;
  session(send: (e: WyomingEvent) => Promise<void>): WyomingSession;
}

export interface WyomingServerOptions {
  host: string;
  port: number;
  service: WyomingService;
  log?: (line: string) => void;
  limits?: Partial<WyomingLimits>;
}

export interface RunningWyomingServer {
  host: string;
  port: number;
  /** tcp://host:port — what AIDE_STT_URL / AIDE_TTS_URL take. */
  url: string;
  close(): Promise<void>;
}

/** How long a closing connection may take to flush its `error` event to a peer that does not read. */
const CLOSE_GRACE_MS = 2000;
/** A connection with no traffic either way for this long is closed (a streaming client waits for its LLM, but not this long). */
const IDLE_MS = 120_000;

export async function startWyomingServer(options: WyomingServerOptions): Promise<RunningWyomingServer> {
  const { service } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const sockets = new Set<Socket>();

  const serve = async (socket: Socket) => {
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : "a peer that already left";
    const conn = new WyomingConnection(socket, options.limits);
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    const aborted = new AbortController();
    socket.on("close", () => aborted.abort());
    const session = service.session((e) => conn.send(e));
    try {
      for await (const e of conn.events()) {
        if (e.type === "describe") await conn.send(event("info", service.info()));
        else await session.handle(e, aborted.signal);
      }
      conn.end();
    } catch (error) {
      // The peer left (a reset, a TCP health check, a client that gave up mid-work): nothing to tell.
      if ((aborted.signal.aborted || socket.destroyed) && !(error instanceof WyomingProtocolError)) return;
      const message = (error as Error).message;
      const code = error instanceof WyomingRequestError ? error.code : error instanceof WyomingProtocolError ? "protocol-error" : "service-error";
      log(`wyoming ${service.kind}: ${peer}: ${message}; connection closed`);
      if (!conn.isClosed) await conn.send(event("error", { text: message, code })).catch(() => undefined);
      conn.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    }
  };

  // allowHalfOpen: a peer that half-closes mid-event still receives the error that says so.
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined); // reported through the connection
    void serve(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new Error(`wyoming ${service.kind}: port ${options.port} on ${options.host} is already in use — choose another with --port or AIDE_WYOMING_PORT`)
          : error,
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const urlHost = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    host: options.host,
    port,
    url: `tcp://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
