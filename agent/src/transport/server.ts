/**
 * The agent's one port: the web page, `/health`, and the WebSocket (`/ws`) that
 * pipecat's client connects to. Each connection gets its own Session.
 *
 * With a certificate the port speaks https/wss (browsers give the microphone only to
 * https pages or localhost), and a second, plain-http port serves only what a device
 * needs before it trusts that certificate: the CA certificate and how to install it.
 * With a pairing code, a session starts only for a client that gives it (pairing.ts).
 */
import * as http from "node:http";
import * as https from "node:https";
import { randomUUID } from "node:crypto";
import { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { closeReason } from "./client-link";
import { PairingGate, PairingVerdict } from "./pairing";
import { DEFAULT_MAX_SESSIONS, defaultSessionsPerAddress } from "./limits";
import { Session, SessionOptions, StageFactory } from "./session";
import { encodeServerRtvi } from "./wire";

export interface StaticAsset {
  contentType: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export interface AgentServerOptions {
  host?: string;
  port?: number;
  /** Each session's pipeline, from its `input` to its `output` (see Session). */
  stages: StageFactory;
  /** Files served over HTTP by path, e.g. the page at "/". */
  assets?: Record<string, StaticAsset>;
  /** Extra fields for `/health` (model names, LLM backend state…). */
  health?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  session?: SessionOptions;
  /** Sessions beyond this are refused with a clear close reason (default DEFAULT_MAX_SESSIONS). */
  maxSessions?: number;
  /** Sessions from one address (default half of maxSessions, rounded up), so one client cannot take every slot. */
  maxSessionsPerAddress?: number;
  /** A connection that has not said client-ready by then is closed (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** A connection from which nothing — no message, no pong — arrives for this long is closed (default 30000 ms). */
  idleTimeoutMs?: number;
  log?: (line: string) => void;
  /** Serve https/wss with this certificate (PEM; chain after the leaf) and key. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** The plain-http port (only with `tls`): `assets(httpsUrl)` are its only pages. */
  plainHttp?: { port: number; assets: (httpsUrl: string) => Record<string, StaticAsset> };
  /** Sessions and /health's details only for clients that give this code (loopback needs none). */
  pairingCode?: string;
}

export interface AgentServer {
  url: string;
  wsUrl: string;
  port: number;
  /** The plain-http page offering the CA certificate, when there is one, and its port. */
  plainUrl?: string;
  plainPort?: number;
  sessions(): number;
  close(): Promise<void>;
}

/** Hard cap in `ws` itself; ClientInputTransport rejects smaller oversized messages politely. */
const WS_MAX_PAYLOAD = 1024 * 1024;
/** A closing client gets this long to answer the close frame; one that does not read never would. */
const CLOSE_GRACE_MS = 2000;
/** Where a client puts the pairing code: this header, or `?code=` (a browser's WebSocket cannot set headers). */
export const PAIRING_HEADER = "x-aide-pairing-code";
/** WebSocket close codes (4000-4999 are the application's) for a refused pairing. */
export const PAIRING_CLOSE_CODES = { required: 4001, wrong: 4003, "rate-limited": 4029 } as const;

/**
 * `ws` closes a connection whose message is over `maxPayload` by itself, with code 1009 and
 * no reason (ws/lib/websocket.js, receiverOnError). Say what the limit is, in the close
 * reason and as an RTVI error the page shows.
 */
class AgentWebSocket extends WebSocket {
  close(code?: number, reason?: string | Buffer): void {
    if (code === 1009 && !reason && this.readyState === WebSocket.OPEN) {
      const why = `message over the ${WS_MAX_PAYLOAD / 1024 / 1024} MiB limit: send audio in 512-byte chunks and text under 64 KiB`;
      this.send(encodeServerRtvi("error", { message: `closing: ${why}`, fatal: true }));
      return super.close(code, closeReason(why));
    }
    return super.close(code, reason);
  }
}

export async function startAgentServer(options: AgentServerOptions): Promise<AgentServer> {
  const log = options.log ?? (() => {});
  const sessions = new Map<string, Session>();
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const maxPerAddress = options.maxSessionsPerAddress ?? defaultSessionsPerAddress(maxSessions);
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const perAddress = new Map<string, number>();
  /** When each open connection was last heard from (a message or a pong). */
  const lastHeard = new Map<WebSocket, number>();

  const gate = options.pairingCode !== undefined ? new PairingGate(options.pairingCode) : undefined;
  /** The code a request carries, in the header or `?code=`. */
  const pairing = (req: http.IncomingMessage): PairingVerdict => {
    if (!gate) return { ok: true };
    const header = req.headers[PAIRING_HEADER];
    const given = (Array.isArray(header) ? header[0] : header) ?? new URL(req.url ?? "/", "http://agent").searchParams.get("code") ?? undefined;
    return gate.check(req.socket.remoteAddress ?? "unknown", given);
  };

  const handle = (serve: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    void serve(req, res).catch((error) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`internal error: ${(error as Error).message}\n`);
    });
  };
  const httpServer = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handle(serveHttp))
    : http.createServer(handle(serveHttp));

  async function serveHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://agent").pathname;
    if (path === "/health") {
      // Up or not is public (Nomad's check asks); what the agent runs and how busy it is is not.
      const paired = pairing(req).ok;
      const extra = paired && options.health ? await options.health() : {};
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(paired ? { status: "ok", sessions: sessions.size, ...extra } : { status: "ok" }));
      return;
    }
    if (path === "/pairing") {
      // The page asks before it connects, so it can say what is wrong instead of just closing.
      const verdict = pairing(req);
      if (verdict.ok) {
        res.writeHead(204, { "cache-control": "no-store" });
        res.end();
      } else {
        res.writeHead(verdict.kind === "rate-limited" ? 429 : 401, {
          "content-type": "application/json", "cache-control": "no-store",
          ...(verdict.retryAfterS ? { "retry-after": String(verdict.retryAfterS) } : {}),
        });
        res.end(JSON.stringify({ error: verdict.reason, pairing: verdict.kind, retryAfterS: verdict.retryAfterS }));
      }
      return;
    }
    sendAsset(req, res, options.assets?.[path], path);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, WebSocket: AgentWebSocket });
  httpServer.on("upgrade", (req, socket, head) => {
    const path = new URL(req.url ?? "/", "http://agent").pathname;
    if (path !== "/ws") {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    const verdict = pairing(req);
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (verdict.ok) return accept(ws, req.socket.remoteAddress ?? "unknown");
      // Accepted only to say why: a refused upgrade reaches a browser as a bare error.
      log(`refused a session from ${req.socket.remoteAddress}: ${verdict.reason}`);
      ws.send(encodeServerRtvi("error", { message: verdict.reason, fatal: true, pairing: verdict.kind }));
      hangUp(ws, PAIRING_CLOSE_CODES[verdict.kind], verdict.reason);
    });
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

  const port = await listen(httpServer, options.port ?? 0, options.host ?? "127.0.0.1");
  const host = options.host && options.host !== "0.0.0.0" ? options.host : "127.0.0.1";

  let plainServer: http.Server | undefined;
  let plainPort: number | undefined;
  if (options.plainHttp) {
    if (!options.tls) throw new Error("a plain-http port is for offering the CA certificate of an https agent: give tls too");
    const plain = options.plainHttp;
    plainServer = http.createServer(handle(async (req, res) => {
      const path = new URL(req.url ?? "/", "http://agent").pathname;
      sendAsset(req, res, plain.assets(`https://${requestHost(req, host)}:${port}/`)[path], path);
    }));
    try {
      plainPort = await listen(plainServer, plain.port, options.host ?? "127.0.0.1");
    } catch (error) {
      httpServer.close();
      throw error;
    }
  }
  const scheme = options.tls ? "https" : "http";

  return {
    url: `${scheme}://${host}:${port}/`,
    wsUrl: `${options.tls ? "wss" : "ws"}://${host}:${port}/ws`,
    port,
    plainUrl: plainPort !== undefined ? `http://${host}:${plainPort}/` : undefined,
    plainPort,
    sessions: () => sessions.size,
    async close() {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.terminate();
      await Promise.allSettled([...sessions.values()].map((s) => s.close("server stopping")));
      sessions.clear();
      wss.close();
      await Promise.all([httpServer, plainServer].map((s) => s && new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      })));
    },
  };
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function sendAsset(req: http.IncomingMessage, res: http.ServerResponse, asset: StaticAsset | undefined, path: string): void {
  if (!asset || (req.method !== "GET" && req.method !== "HEAD")) {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end(`not found: ${path}\n`);
    return;
  }
  res.writeHead(200, { "content-type": asset.contentType, "cache-control": "no-store", ...asset.headers });
  res.end(req.method === "HEAD" ? undefined : asset.body);
}

/** The host name the device used to reach us (for the link to the https page), if it is a plain name or address. */
function requestHost(req: http.IncomingMessage, fallback: string): string {
  const header = req.headers.host ?? "";
  const name = header.startsWith("[") ? header.slice(0, header.indexOf("]") + 1) : header.split(":")[0];
  return /^([a-zA-Z0-9.-]+|\[[0-9a-fA-F:.]+\])$/.test(name) ? name : fallback;
}
