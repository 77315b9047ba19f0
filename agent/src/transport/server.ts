/**
 * The agent's one port: the web page, `/health`, and the WebSocket (`/ws`) that
 * pipecat's client connects to. Each connection gets its own Session.
 */
import * as http from "node:http";
import { randomUUID } from "node:crypto";
import { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { Session, SessionOptions, StageFactory } from "./session";

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

export async function startAgentServer(options: AgentServerOptions): Promise<AgentServer> {
  const log = options.log ?? (() => {});
  const sessions = new Map<string, Session>();
  const maxSessions = options.maxSessions ?? 16;

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

  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD });
  httpServer.on("upgrade", (req, socket, head) => {
    const path = new URL(req.url ?? "/", "http://agent").pathname;
    if (path !== "/ws") {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws));
  });

  function accept(ws: WebSocket): void {
    if (sessions.size >= maxSessions) {
      ws.close(1013, `agent is at its limit of ${maxSessions} sessions: try again later`);
      return;
    }
    const id = randomUUID();
    const session = new Session(id, {
      send: (bytes) => ws.send(bytes),
      close: (code, reason) => ws.close(code, reason),
      get isOpen() { return ws.readyState === WebSocket.OPEN; },
    }, options.session);
    sessions.set(id, session);
    log(`session ${id} connected (${sessions.size} open)`);
    ws.on("message", (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      session.receive(isBinary ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes.toString("utf8"));
    });
    ws.on("error", (error) => log(`session ${id}: ${error.message}`));
    ws.on("close", (code) => {
      sessions.delete(id);
      log(`session ${id} closed (${code}, ${sessions.size} open)`);
      void session.close().catch((error) => log(`session ${id} cleanup failed: ${(error as Error).message}`));
    });
    session.start(options.stages).catch((error) => {
      const message = `could not start a session: ${(error as Error).message}`;
      log(message);
      session.link.sendError(message, true);
      ws.close(1011, message.slice(0, 120));
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
      for (const ws of wss.clients) ws.terminate();
      await Promise.allSettled([...sessions.values()].map((s) => s.close("server stopping")));
      sessions.clear();
      wss.close();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeAllConnections();
    },
  };
}
