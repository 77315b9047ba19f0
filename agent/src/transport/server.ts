/**
 * The agent's one port: the web page, `/health`, and the WebSocket (`/ws`) that
 * pipecat's client connects to. Each connection gets its own Session.
 */
import * as http from "node:http";
import { randomUUID } from "node:crypto";
import { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { closeReason } from "./client-link";
import { Session, SessionOptions, StageFactory } from "./session";
import { encodeRtvi } from "./wire";

export interface StaticAsset {
  contentType: string;
  body: string | Buffer;
}

export interface AgentServerOptions {
  host?: string;
  port?: number;
  stages: StageFactory;
  /** Files served over HTTP by path, e.g. the page at "/". */
  assets?: Record<string, StaticAsset>;
  /** Extra fields for `/health` (model names, LLM backend state…). */
  health?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  session?: SessionOptions;
  /** Sessions beyond this are refused with a clear close reason. */
  maxSessions?: number;
  /** Sessions from one address (default half of maxSessions, rounded up), so one client cannot take every slot. */
  maxSessionsPerAddress?: number;
  /** A connection that has not said client-ready by then is closed (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** A connection from which nothing — no message, no pong — arrives for this long is closed (default 30000 ms). */
  idleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface AgentServer {
  url: string;
  wsUrl: string;
  port: number;
  sessions(): number;
  close(): Promise<void>;
}

/** Hard cap in `ws` itself; ClientInputTransport rejects smaller oversized messages politely. */
const WS_MAX_PAYLOAD = 1024 * 1024;
/** A closing client gets this long to answer the close frame; one that does not read never would. */
const CLOSE_GRACE_MS = 2000;

/**
 * `ws` closes a connection whose message is over `maxPayload` by itself, with code 1009 and
 * no reason (ws/lib/websocket.js, receiverOnError). Say what the limit is, in the close
 * reason and as an RTVI error the page shows.
 */
class AgentWebSocket extends WebSocket {
  close(code?: number, reason?: string | Buffer): void {
    if (code === 1009 && !reason && this.readyState === WebSocket.OPEN) {
      const why = `message over the ${WS_MAX_PAYLOAD / 1024 / 1024} MiB limit: send audio in 512-byte chunks and text under 64 KiB`;
      this.send(encodeRtvi("error", { message: `closing: ${why}`, fatal: true }));
      return super.close(code, closeReason(why));
    }
    return super.close(code, reason);
  }
}

export async function startAgentServer(options: AgentServerOptions): Promise<AgentServer> {
  const log = options.log ?? (() => {});
  const sessions = new Map<string, Session>();
  const maxSessions = options.maxSessions ?? 16;
  const maxPerAddress = options.maxSessionsPerAddress ?? Math.ceil(maxSessions / 2);
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const perAddress = new Map<string, number>();
  /** When each open connection was last heard from (a message or a pong). */
  const lastHeard = new Map<WebSocket, number>();

  const httpServer = http.createServer((req, res) => {
    void serveHttp(req, res).catch((error) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`internal error: ${(error as Error).message}\n`);
    });
  });

  async function serveHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://agent").pathname;
    if (path === "/health") {
      const extra = options.health ? await options.health() : {};
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({ status: "ok", sessions: sessions.size, ...extra }));
      return;
    }
    const asset = options.assets?.[path];
    if (!asset || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, { "content-type": asset.contentType, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : asset.body);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, WebSocket: AgentWebSocket });
  httpServer.on("upgrade", (req, socket, head) => {
    const path = new URL(req.url ?? "/", "http://agent").pathname;
    if (path !== "/ws") {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req.socket.remoteAddress ?? "unknown"));
  });

  /** Closes politely, and drops the connection if the client does not answer (it may not be reading). */
  function hangUp(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState === WebSocket.OPEN) ws.close(code, closeReason(reason));
    setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  // Pings keep a quiet but present client (a text-only one, a muted mic) counted as alive:
  // browsers and `ws` answer pings by themselves.
  const pinger = setInterval(() => {
    const now = performance.now();
    for (const [ws, heard] of lastHeard) {
      if (now - heard > idleTimeoutMs) {
        lastHeard.delete(ws);
        hangUp(ws, 1001, `nothing heard from this client for ${idleTimeoutMs >= 1000 ? `${Math.round(idleTimeoutMs / 1000)} s` : `${idleTimeoutMs} ms`} (no audio, no pong): closing`);
      } else if (ws.readyState === WebSocket.OPEN) ws.ping();
    }
  }, Math.max(50, Math.min(10_000, idleTimeoutMs / 3)));
  pinger.unref();

  function accept(ws: WebSocket, address: string): void {
    if (sessions.size >= maxSessions) {
      ws.close(1013, closeReason(`agent is at its limit of ${maxSessions} sessions: try again later`));
      return;
    }
    if ((perAddress.get(address) ?? 0) >= maxPerAddress) {
      ws.close(1013, closeReason(`${maxPerAddress} sessions already open from ${address}, the most one address may hold: close one`));
      return;
    }
    perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    const id = randomUUID();
    const session = new Session(id, {
      send: (bytes) => ws.send(bytes),
      close: (code, reason) => hangUp(ws, code, reason),
      get isOpen() { return ws.readyState === WebSocket.OPEN; },
      get bufferedBytes() { return ws.bufferedAmount; },
    }, options.session);
    sessions.set(id, session);
    lastHeard.set(ws, performance.now());
    log(`session ${id} connected from ${address} (${sessions.size} open)`);
    const handshake = setTimeout(() => {
      if (!session.live) hangUp(ws, 1008, `no client-ready within ${handshakeTimeoutMs} ms: a pipecat client sends it on connect`);
    }, handshakeTimeoutMs);
    ws.on("pong", () => lastHeard.set(ws, performance.now()));
    ws.on("message", (data, isBinary) => {
      lastHeard.set(ws, performance.now());
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      try {
        session.receive(isBinary ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes.toString("utf8"));
      } catch (error) {
        // The session's own guard failed: this session ends, the process and the others go on.
        log(`session ${id}: message handling failed: ${(error as Error).message}`);
        hangUp(ws, 1011, `internal error handling a message: ${(error as Error).message}`);
      }
    });
    ws.on("error", (error) => log(`session ${id}: ${error.message}`));
    ws.on("close", (code, reason) => {
      clearTimeout(handshake);
      lastHeard.delete(ws);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
      sessions.delete(id);
      log(`session ${id} closed (${code}${reason.length ? ` ${reason.toString()}` : ""}, ${sessions.size} open)`);
      void session.close().catch((error) => log(`session ${id} cleanup failed: ${(error as Error).message}`));
    });
    session.start(options.stages).catch((error) => {
      const message = `could not start a session: ${(error as Error).message}`;
      log(message);
      session.link.sendError(message, true);
      hangUp(ws, 1011, message);
    });
  }

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;
  const host = options.host && options.host !== "0.0.0.0" ? options.host : "127.0.0.1";

  return {
    url: `http://${host}:${port}/`,
    wsUrl: `ws://${host}:${port}/ws`,
    port,
    sessions: () => sessions.size,
    async close() {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.terminate();
      await Promise.allSettled([...sessions.values()].map((s) => s.close("server stopping")));
      sessions.clear();
      wss.close();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeAllConnections();
    },
  };
}
