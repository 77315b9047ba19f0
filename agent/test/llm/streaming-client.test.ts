/**
 * The brain's LLM client against a real llama-server (tiny generated model): it streams,
 * stops within one chunk when interrupted, retries a backend that is down, times out one
 * that hangs, and comes back when the backend does.
 */
import * as http from "node:http";
import * as net from "node:net";
import { freePort, startLlamaServer, type RunningProcess } from "../../../lib/llama";
import { ensureTinyChatModel } from "../../../scripts/models/tiny";
import { LlmClient, LlmRequestError, LlmUnavailableError, type ChatRequest, type LlmEvent } from "../../src/services/llm";
import { SseParser } from "../../src/services/llm/sse";
import { startTinyLlm } from "./tiny-llm";

const ask = (content: string, maxTokens = 24): ChatRequest => ({
  messages: [
    { role: "system", content: "You are a test." },
    { role: "user", content },
  ],
  maxTokens,
  temperature: 0,
  seed: 1,
});

async function collect(stream: AsyncIterable<LlmEvent>): Promise<LlmEvent[]> {
  const events: LlmEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

async function slotBusy(url: string): Promise<boolean> {
  const slots = (await (await fetch(`${url}/slots`)).json()) as { is_processing: boolean }[];
  return slots.some((s) => s.is_processing);
}

describe("LLM client against a real llama-server", () => {
  let server: RunningProcess;

  beforeAll(async () => {
    server = await startTinyLlm();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("streams the answer as text chunks while it is generated, and reports the prompt tokens evaluated", async () => {
    const client = new LlmClient({ baseUrl: server.url, slotId: 0 });
    const events = await collect(client.stream(ask("hello there", 16)));
    const texts = events.filter((e) => e.type === "text");
    expect(texts.length).toBeGreaterThan(3);
    const end = events[events.length - 1];
    expect(end.type).toBe("end");
    if (end.type !== "end") throw new Error("no end event");
    expect(end.finishReason).toBe("length");
    expect(end.timings?.predictedTokens).toBe(16);
    expect(end.timings?.promptTokens).toBeGreaterThan(5);
  });

  it("stops within one chunk when the user interrupts, and the server stops generating", async () => {
    const client = new LlmClient({ baseUrl: server.url, slotId: 0 });
    const controller = new AbortController();
    let afterAbort = 0;
    let received = 0;
    let abortedAt = 0;
    let error: unknown;
    try {
      for await (const event of client.stream(ask("tell me a long story", 3000), controller.signal)) {
        if (event.type !== "text") continue;
        if (controller.signal.aborted) afterAbort++;
        received++;
        if (received === 3) {
          abortedAt = performance.now();
          controller.abort();
        }
      }
    } catch (e) {
      error = e;
    }
    const stoppedAfterMs = performance.now() - abortedAt;
    expect((error as Error)?.name).toBe("AbortError");
    expect(afterAbort).toBe(0);
    expect(stoppedAfterMs).toBeLessThan(100);
    // Closing the connection makes llama-server drop the task: the slot frees at once, not
    // after the ~1 s the 3000 tokens would take.
    const deadline = Date.now() + 250;
    while ((await slotBusy(server.url)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await slotBusy(server.url)).toBe(false);
    const again = await collect(client.stream(ask("are you still there", 4)));
    expect(again.filter((e) => e.type === "text").length).toBeGreaterThan(0);
  });

  it("gives up on a stream that goes silent mid-answer (the backend froze)", async () => {
    const client = new LlmClient({ baseUrl: server.url, idleTimeoutMs: 300 });
    let texts = 0;
    const started = Date.now();
    let stoppedAt = 0;
    try {
      const failure = await (async () => {
        for await (const event of client.stream(ask("keep talking", 3000))) {
          if (event.type === "text" && ++texts === 2) {
            stoppedAt = Date.now();
            process.kill(server.pid, "SIGSTOP");
          }
        }
      })().catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(LlmUnavailableError);
      expect(String((failure as Error).message)).toMatch(/dropped the stream \(ETIMEDOUT: no data for 300 ms\)/);
    } finally {
      process.kill(server.pid, "SIGCONT");
    }
    // Chunks already in flight may still arrive; then 300 ms of silence ends it.
    expect(Date.now() - stoppedAt).toBeLessThan(1500);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("times out a backend that accepts the connection but never answers (a stopped process)", async () => {
    const client = new LlmClient({ baseUrl: server.url, firstResponseTimeoutMs: 400, retries: 0 });
    process.kill(server.pid, "SIGSTOP");
    const started = Date.now();
    try {
      await expect(collect(client.stream(ask("hi")))).rejects.toThrow(/did not answer \(no response within 400 ms\)/);
    } finally {
      process.kill(server.pid, "SIGCONT");
    }
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("LLM backend that is down", () => {
  it("retries with backoff, names the URL and the fix, then answers once the backend is back", async () => {
    const port = await freePort();
    const client = new LlmClient({ baseUrl: `http://127.0.0.1:${port}/v1`, retries: 2, retryDelayMs: 50 });
    const started = Date.now();
    const failure = await collect(client.stream(ask("hi"))).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(LlmUnavailableError);
    expect(String((failure as Error).message)).toMatch(
      new RegExp(`LLM backend at http://127.0.0.1:${port} is unreachable \\(ECONNREFUSED.*after 3 attempts — is the llm job running and LLM_BASE_URL \\(--llm-url\\) right\\?`),
    );
    // Backoff: 50 ms then 100 ms between the three attempts.
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    const server = await startTinyLlm({ port });
    try {
      const events = await collect(client.stream(ask("hi again", 4)));
      expect(events.filter((e) => e.type === "text").length).toBeGreaterThan(0);
      expect(await client.healthy()).toBe(true);
    } finally {
      await server.stop();
    }
    expect(await client.healthy()).toBe(false);
  });

  it("keeps retrying while the backend comes up during the backoff", async () => {
    const port = await freePort();
    const client = new LlmClient({ baseUrl: `http://127.0.0.1:${port}`, retries: 40, retryDelayMs: 100 });
    const starting = new Promise<RunningProcess>((resolve, reject) => setTimeout(() => startTinyLlm({ port }).then(resolve, reject), 300));
    try {
      const events = await collect(client.stream(ask("are you up", 4)));
      expect(events.filter((e) => e.type === "text").length).toBeGreaterThan(0);
    } finally {
      await (await starting).stop();
    }
  });

  it("says the stream was dropped when the backend dies mid-answer", async () => {
    const server = await startTinyLlm();
    const client = new LlmClient({ baseUrl: server.url });
    let texts = 0;
    const failure = await (async () => {
      for await (const event of client.stream(ask("a long one", 3000))) {
        if (event.type === "text" && ++texts === 2) process.kill(server.pid, "SIGKILL");
      }
    })().catch((e: unknown) => e);
    await server.stop();
    expect(failure).toBeInstanceOf(LlmUnavailableError);
    expect(String((failure as Error).message)).toMatch(/dropped the stream|closed the stream before the answer ended/);
  });
});

describe("LLM backend with an API key", () => {
  it("sends the key as a bearer token and never puts it in an error message", async () => {
    const key = "sk-aide-test-4f1e9c";
    const model = await ensureTinyChatModel();
    const server = await startLlamaServer({ model, threads: 1, parallel: 1, ctxSize: 1024, extraArgs: ["--api-key", key] });
    try {
      const events = await collect(new LlmClient({ baseUrl: server.url, apiKey: key }).stream(ask("hi", 4)));
      expect(events.filter((e) => e.type === "text").length).toBeGreaterThan(0);
      const wrong = await collect(new LlmClient({ baseUrl: server.url, apiKey: "sk-wrong-key-123" }).stream(ask("hi", 4))).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(LlmRequestError);
      expect((wrong as LlmRequestError).status).toBe(401);
      expect(String((wrong as Error).message)).toMatch(/refused the request \(401: /);
      expect(String((wrong as Error).message)).not.toContain("sk-wrong-key-123");
      expect(String((wrong as Error).message)).not.toContain(key);
    } finally {
      await server.stop();
    }
  });
});

describe("prima.cpp backend", () => {
  // prima.cpp cannot be built here (DESIGN.md): a proxy in front of a real llama-server
  // plays its rank 0. The real one cancels a task whose client left, and answers
  // POST /v1/cancel without a task id with 400 (shared/prima/FLAGS.md).
  it("stops the ring by closing the stream, and sends no /v1/cancel (prima refuses one without a task id)", async () => {
    const upstream = await startTinyLlm();
    const cancels: string[] = [];
    let clientLeft = false;
    const proxy = http.createServer((req, res) => {
      if (req.url === "/v1/cancel") {
        cancels.push(req.method ?? "");
        res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"code":400,"message":"task_id is required"}}');
        return;
      }
      const forward = http.request(`${upstream.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      res.on("close", () => {
        if (!res.writableFinished) clientLeft = true;
        forward.destroy();
      });
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const port = (proxy.address() as net.AddressInfo).port;
    try {
      const client = new LlmClient({ baseUrl: `http://127.0.0.1:${port}`, backend: "primacpp" });
      const controller = new AbortController();
      await collect(
        (async function* () {
          for await (const event of client.stream(ask("go on", 3000), controller.signal)) {
            if (event.type === "text") controller.abort();
            yield event;
          }
        })(),
      ).catch(() => undefined);
      const deadline = Date.now() + 2000;
      while (!clientLeft && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 300));
      expect(clientLeft).toBe(true);
      expect(cancels).toEqual([]);
    } finally {
      proxy.close();
      await upstream.stop();
    }
  });
});

describe("server-sent events", () => {
  it("joins events split across network chunks and CRLF line ends", () => {
    const parser = new SseParser();
    expect(parser.push('data: {"a"')).toEqual([]);
    expect(parser.push(':1}\r\n\r\ndata: [DO')).toEqual(['{"a":1}']);
    expect(parser.push("NE]\n\n: comment\n\nevent: x\ndata: tail")).toEqual(["[DONE]"]);
    expect(parser.flush()).toEqual(["tail"]);
  });
});

describe("asking a backend whether it still answers", () => {
  it("asks only a prima.cpp ring: on a Core 2 one llama.cpp prompt batch is a long silence, not a hang", () => {
    // The lab measured 25 s of silence while a Core 2-budget llama-server re-evaluated a
    // ~290-token history; a longer one passes a 10 s + 30 s liveness bound.
    expect(new LlmClient({ baseUrl: "http://127.0.0.1:1", backend: "llamacpp" }).options.livenessIntervalMs).toBe(Number.POSITIVE_INFINITY);
    expect(new LlmClient({ baseUrl: "http://127.0.0.1:1" }).options.livenessIntervalMs).toBe(Number.POSITIVE_INFINITY);
    expect(new LlmClient({ baseUrl: "http://127.0.0.1:1", backend: "primacpp" }).options.livenessIntervalMs).toBe(10_000);
  });
});
