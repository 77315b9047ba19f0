// The detector's small local API, read by the agent's VisionClient:
//   GET /observation  the latest SceneState as JSON (always answers, camera or not)
//   GET /events       Server-Sent Events: the current state at once, then every change
//   GET /health       what it watches, frames analysed, fps and CPU share achieved
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { Detector, SceneState } from "./detector";

export interface ServedDetector {
  url: string;
  close(): Promise<void>;
}

const SSE_KEEPALIVE_MS = 15000;

export function serveDetector(detector: Detector, host: string, port: number): Promise<ServedDetector> {
  const streams = new Set<ServerResponse>();
  const send = (res: ServerResponse, state: SceneState) => res.write(`event: observation\ndata: ${JSON.stringify(state)}\n\n`);
  const onChange = (state: SceneState) => streams.forEach((res) => send(res, state));
  detector.on("change", onChange);

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method !== "GET") return json(res, 405, { error: `${req.method} ${path}: the vision API only answers GET` });
    switch (path) {
      case "/observation":
        return json(res, 200, detector.state());
      case "/health":
        return json(res, 200, detector.health());
      case "/events": {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
        streams.add(res);
        send(res, detector.state());
        // A comment line now and then keeps idle proxies and NATs from dropping the stream.
        const keepalive = setInterval(() => res.write(": keepalive\n\n"), SSE_KEEPALIVE_MS);
        req.on("close", () => {
          clearInterval(keepalive);
          streams.delete(res);
        });
        return;
      }
      default:
        return json(res, 404, { error: `${path}: not found; the vision API has GET /observation, /events and /health` });
    }
  });

  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`vision API cannot listen on ${host}:${port} (${err.message}) — pick another --port`)));
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      const shownHost = host.includes(":") ? `[${host}]` : host;
      resolve({
        url: `http://${shownHost}:${bound}`,
        close: () =>
          new Promise<void>((done) => {
            detector.off("change", onChange);
            streams.forEach((res) => res.end());
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
