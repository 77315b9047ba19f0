// A stand-in for one prima.cpp rank (prima.cpp cannot be built here), started with the
// exact arguments the primacpp job renders. It reproduces what a real ring was seen to do
// (shared/prima/FLAGS.md, "When a rank dies"):
// - ranks form a ring over TCP on --data-port + rank; each token makes a round trip of
//   the ring before rank 0 sends it, so a dead rank stalls the stream with no error;
// - a rank connects to its next rank once and never again, so restarting one worker, or
//   rank 0 alone, does not bring the ring back (rank 0 then answers 503 "Loading model");
// - rank 0 keeps answering /health 200 while completions and /slots hang;
// - with a peer gone, rank 0 ignores SIGTERM (only SIGKILL stops it).
// The words come from a real llama-server on the generated tiny model
// (STAND_IN_LLAMA_URL): rank 0 passes its answers through the ring.
import * as http from "node:http";
import * as net from "node:net";

const argv = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const rank = Number(arg("--rank", "0"));
const world = Number(arg("--world", "1"));
const base = Number(arg("--data-port", "9000"));
const next = arg("--next", "127.0.0.1");
const log = (line) => console.log(`rank ${rank}: ${line}`);

let prev; // socket from rank r-1
let out; // socket to rank r+1
let peerGone = false;
const queued = []; // messages for the next rank before it is connected (ZeroMQ queues them too)
const send = (msg) => {
  if (!out) queued.push(msg);
  else if (!out.destroyed) out.write(`${msg}\n`);
};
const waiting = new Map(); // ping id → resolve (rank 0)
let nextPing = 0;

net.createServer((sock) => {
  if (prev) return sock.destroy(); // the ring is formed once
  prev = sock;
  log("previous rank connected");
  let buffer = "";
  sock.on("data", (d) => {
    buffer += d.toString();
    for (let i; (i = buffer.indexOf("\n")) >= 0; ) {
      const msg = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (rank === 0) waiting.get(msg)?.();
      else send(msg);
    }
  });
  sock.on("error", () => undefined);
  sock.on("close", () => { peerGone = true; log("previous rank gone"); });
}).listen(base + rank, "0.0.0.0");

(function connect() {
  const sock = net.connect(base + ((rank + 1) % world), next);
  sock.once("connect", () => {
    out = sock;
    log("connected to the next rank");
    for (const msg of queued.splice(0)) send(msg);
    sock.on("close", () => { peerGone = true; log("next rank gone"); });
    if (rank === 0) formRing();
  });
  sock.on("error", () => { if (!out) setTimeout(connect, 200); });
})();

process.on("SIGTERM", () => {
  if (peerGone) return log("ignoring SIGTERM: a peer is gone");
  log("SIGTERM: stopping");
  process.exit(0);
});

// ---- rank 0: the llama-server ----
let ready = false;
const roundTrip = () => new Promise((resolve) => {
  const id = `t${nextPing++}`;
  const started = Date.now();
  waiting.set(id, () => { waiting.delete(id); resolve(); });
  waiting.get(id).started = started;
  send(id);
});
const stuck = () => [...waiting.values()].some((w) => Date.now() - w.started > 1000);

async function formRing() {
  await roundTrip();
  ready = true;
  log("ring formed");
}

if (rank === 0) {
  const upstream = process.env.STAND_IN_LLAMA_URL;
  const host = arg("--host", "127.0.0.1");
  const port = Number(arg("--port", "8080"));
  http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/health") {
        res.writeHead(ready ? 200 : 503, { "content-type": "application/json" });
        return res.end(ready ? '{"status":"ok"}' : '{"error":{"code":503,"message":"Loading model"}}');
      }
      if (!ready) {
        res.writeHead(503, { "content-type": "application/json" });
        return res.end('{"error":{"code":503,"message":"Loading model"}}');
      }
      if (stuck()) return; // the server loop is blocked in the ring: no answer, ever
      const up = await fetch(`${upstream}${req.url}`, { method: req.method, headers: { "content-type": "application/json" }, body: req.method === "GET" ? undefined : Buffer.concat(chunks) });
      res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "application/json" });
      const reader = up.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (path !== "/slots") await roundTrip(); // every token goes round the ring
        if (res.destroyed) return reader.cancel();
        res.write(value);
      }
      res.end();
    });
  }).listen(port, host, () => log(`serving on ${host}:${port}`));
}
