// The agent's side of a Wyoming connection: one TCP connection per request (what Home
// Assistant does too), so an abandoned request is dropped by closing its connection and
// can never deliver its answer into a later one.
import { connect } from "node:net";
import { abortError, isAbort } from "../abort";
import { event, WyomingEvent } from "./codec";
import { parseTcpUrl } from "./address";
import { WyomingConnection } from "./connection";

export interface RequestOptions {
  /** Give up connecting after this long (default 2 s: on a LAN a live service answers in ms). */
  connectTimeoutMs?: number;
  /** Give up when the service sends nothing for this long (default 30 s). */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

/** An open connection to `url`; aborting `signal` destroys it (nothing more is read). */
export function openWyoming(url: string, options: RequestOptions = {}): Promise<WyomingConnection> {
  const { host, port } = parseTcpUrl(url);
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError("Wyoming request"));
    const socket = connect({ host, port });
    const connectTimer = setTimeout(() => socket.destroy(new Error(`no connection to ${url} within ${options.connectTimeoutMs ?? 2000} ms`)), options.connectTimeoutMs ?? 2000);
    const onAbort = () => socket.destroy(abortError("Wyoming request"));
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("close", () => signal?.removeEventListener("abort", onAbort));
    socket.once("error", (error) => {
      clearTimeout(connectTimer);
      reject(isAbort(error) ? error : new Error(`${url}: ${error.message}`));
    });
    socket.once("connect", () => {
      clearTimeout(connectTimer);
      const conn = new WyomingConnection(socket);
      const idle = options.idleTimeoutMs ?? 30_000;
      socket.setTimeout(idle, () => {
        conn.fail(new Error(`${url} sent nothing for ${idle / 1000} s`));
        socket.destroy();
      });
      resolve(conn);
    });
  });
}

/** The service's answer to `describe` (its `info` data). */
export async function describeWyoming(url: string, options: RequestOptions = {}): Promise<Record<string, unknown>> {
  const conn = await openWyoming(url, options);
  try {
    await conn.send(event("describe"));
    const info = await expectEvent(conn.events()[Symbol.asyncIterator](), url, ["info"]);
    return info.data;
  } finally {
    conn.destroy();
  }
}

/**
 * The next event, which must be one of `types`; a Wyoming `error` event, a connection
 * that ends first, or any other event throws, naming the service.
 */
export async function expectEvent(events: AsyncIterator<WyomingEvent>, url: string, types: string[]): Promise<WyomingEvent> {
  const next = await events.next();
  if (next.done) throw new Error(`${url} closed the connection before answering (${types.join(" or ")} expected)`);
  const e = next.value;
  if (types.includes(e.type)) return e;
  if (e.type === "error") throw new Error(`${url} answered with an error: ${String(e.data.text ?? "no text")}`);
  throw new Error(`${url} answered "${e.type}" where ${types.join(" or ")} was expected`);
}
