/**
 * A stand-in for prima.cpp's rank 0 (its llama-server), behaving as the real one was seen
 * to in shared/prima/FLAGS.md, "Verified against the real source":
 *
 * - `tools` / `tool_choice` in a chat completion: HTTP 500 "Unsupported param: tools";
 *   `grammar` and other llama.cpp fields pass through;
 * - `POST /v1/cancel` without an integer `task_id`: HTTP 400 (the stream never tells it);
 * - a client that closes its stream cancels the task (`srv cancel_tasks: cancel task`);
 * - when a rank dies (`ringDies()`): the stream in flight stalls with no error and no
 *   `[DONE]`, new completions and `/slots` hang, `/health` keeps answering 200.
 *
 * What it answers is the test's `reply` function (the model's words, as tokens).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface PrimaLikeRequest {
  path: string;
  body: Record<string, any>;
}

export interface PrimaLikeServer {
  url: string;
  requests: PrimaLikeRequest[];
  /** Answers to every `POST /v1/cancel`, as status codes. */
  cancels: number[];
  /** Tasks cancelled because their client closed the stream, with the tokens they still had to send. */
  cancelledTasks: { id: number; tokensLeft: number }[];
  /** Tokens written after their task was cancelled (must stay 0). */
  tokensAfterCancel: number;
  ringDies(): void;
  /** The whole ring restarted: "Loading model" (503 on everything but /health's 503 too) until `ready()`. */
  ringRestarts(): void;
  ready(): void;
  close(): Promise<void>;
}

export interface PrimaLikeOptions {
  reply: (body: Record<string, any>) => string[];
  tokenMs?: number;
}

export async function startPrimaLikeServer(options: PrimaLikeOptions): Promise<PrimaLikeServer> {
  const tokenMs = options.tokenMs ?? 5;
  let ringDead = false;
  let loading = false;
  let nextTask = 1;
  const hanging = new Set<http.ServerResponse>();
  const state: Pick<PrimaLikeServer, "requests" | "cancels" | "cancelledTasks" | "tokensAfterCancel"> = { requests: [], cancels: [], cancelledTasks: [], tokensAfterCancel: 0 };

  const server = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (raw += c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0];
      let body: Record<string, any> = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        return json(res, 400, { error: { code: 400, message: "invalid JSON", type: "invalid_request_error" } });
      }
      state.requests.push({ path, body });
      if (loading) return json(res, 503, { error: { code: 503, message: "Loading model", type: "unavailable_error" } });
      if (req.method === "GET" && path === "/health") return json(res, 200, { status: "ok" });
      if (req.method === "GET" && path === "/slots") {
        if (ringDead) return hang(res);
        return json(res, 200, [{ id: 0, is_processing: false }]);
      }
      if (req.method === "POST" && path === "/v1/cancel") {
        const status = Number.isInteger(body.task_id) ? 200 : 400;
        state.cancels.push(status);
        return json(res, status, status === 200 ? { success: true } : { error: { code: 400, message: "\"task_id\" is required", type: "invalid_request_error" } });
      }
      if (req.method === "POST" && path === "/v1/chat/completions") {
        if (body.tools !== undefined || body.tool_choice !== undefined) return json(res, 500, { error: { code: 500, message: "Unsupported param: tools", type: "server_error" } });
        if (ringDead) return hang(res);
        return stream(res, options.reply(body));
      }
      json(res, 404, { error: { code: 404, message: "File Not Found", type: "not_found_error" } });
    });
  });

  function hang(res: http.ServerResponse): void {
    hanging.add(res);
    res.on("close", () => hanging.delete(res));
  }

  function stream(res: http.ServerResponse, tokens: string[]): void {
    const id = nextTask++;
    let i = 0;
    let cancelled = false;
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.on("close", () => {
      if (i < tokens.length || !res.writableEnded) {
        cancelled = true;
        state.cancelledTasks.push({ id, tokensLeft: tokens.length - i });
      }
    });
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }], object: "chat.completion.chunk" })}\n\n`;
    const step = () => {
      if (ringDead) return hang(res); // stalls: no error, no [DONE]
      if (cancelled) return;
      if (res.destroyed) return;
      if (i < tokens.length) {
        res.write(chunk({ content: tokens[i++] }, null));
        setTimeout(step, tokenMs);
        return;
      }
      res.end(`${chunk({}, "stop")}data: [DONE]\n\n`);
    };
    const write = res.write.bind(res);
    res.write = ((...args: Parameters<typeof write>) => {
      if (cancelled) state.tokensAfterCancel++;
      return write(...args);
    }) as typeof res.write;
    setTimeout(step, tokenMs);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    ringDies: () => {
      ringDead = true;
    },
    ringRestarts: () => {
      for (const res of hanging) res.destroy();
      ringDead = false;
      loading = true;
    },
    ready: () => {
      loading = false;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  }) as PrimaLikeServer;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Splits words into tokens the way a stream delivers them: one word (with its space) each. */
export function tokensOf(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}
