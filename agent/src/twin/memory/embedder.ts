/**
 * Embeddings for long-term memory, from a small embedding GGUF. Two ways, same answer:
 * - `LlamaServerEmbedder`: llama-server started with `--embeddings --pooling mean`
 *   (`POST /v1/embeddings`); the same legacy-CPU build as the chat model, and it can run
 *   on another node.
 * - `NodeLlamaCppEmbedder`: node-llama-cpp in a child process (it is ESM-only and the
 *   agent is CommonJS; a child also keeps a native crash out of the agent).
 * Measured on the tiny embedding model, 2 cores, `npm run bench:turns`: see its output.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

export interface Embedder {
  /** One vector per text, in order. */
  embed(texts: string[]): Promise<number[][]>;
  close(): Promise<void>;
}

export class LlamaServerEmbedder implements Embedder {
  /** `baseUrl` as a function: asked on every request, so the embedder follows a server
   * that moves (the agent's endpoints file, re-read on SIGHUP). */
  constructor(private readonly baseUrl: string | (() => string), private readonly timeoutMs = 10_000) {}

  private get url(): string {
    const base = typeof this.baseUrl === "function" ? this.baseUrl() : this.baseUrl;
    return `${base.replace(/\/+$/, "").replace(/\/v1$/, "")}/v1/embeddings`;
  }

  async embed(texts: string[]): Promise<number[][]> {
    if (!texts.length) return [];
    const url = this.url;
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input: texts }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new Error(`embedding server at ${url} is unreachable (${(error as Error).cause ?? (error as Error).message}) — is llama-server running with --embeddings --pooling mean?`);
    }
    const body = (await res.json().catch(() => undefined)) as { data?: { index: number; embedding: number[] }[]; error?: { message?: string } } | undefined;
    if (!res.ok || !Array.isArray(body?.data)) {
      throw new Error(`embedding server at ${url} answered ${res.status}: ${body?.error?.message ?? "no embeddings"} — start it with --embeddings --pooling mean`);
    }
    const vectors = new Array<number[]>(texts.length);
    for (const item of body!.data!) vectors[item.index] = item.embedding;
    return vectors;
  }

  async close(): Promise<void> {}
}

interface Pending {
  resolve(vectors: number[][]): void;
  reject(error: Error): void;
}

export class NodeLlamaCppEmbedder implements Embedder {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited: Error | undefined;
  private stderr = "";
  readonly ready: Promise<void>;

  /** `wrapper` prefixes the command, e.g. ["qemu-x86_64", "-cpu", "core2duo"] to check a Core 2. */
  constructor(modelPath: string, threads = 1, wrapper: string[] = []) {
    const argv = [...wrapper, process.execPath, join(__dirname, "embed-worker.mjs"), modelPath, String(threads)];
    this.child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr!.on("data", (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-2000);
    });
    let markReady: () => void = () => undefined;
    let failReady: (error: Error) => void = () => undefined;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => undefined);
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      const message = JSON.parse(line) as { ready?: true; id?: number; vectors?: number[][]; error?: string };
      if (message.ready) return markReady();
      const waiter = this.pending.get(message.id ?? -1);
      if (!waiter) return;
      this.pending.delete(message.id!);
      if (message.error) waiter.reject(new Error(`node-llama-cpp embedder: ${message.error}`));
      else waiter.resolve(message.vectors ?? []);
    });
    this.child.once("exit", (code, signal) => {
      this.exited = new Error(`node-llama-cpp embedder exited (${code ?? signal}): ${this.stderr.trim().split("\n").slice(-1)[0] || "no output"}`);
      failReady(this.exited);
      for (const waiter of this.pending.values()) waiter.reject(this.exited);
      this.pending.clear();
    });
  }

  async embed(texts: string[]): Promise<number[][]> {
    if (!texts.length) return [];
    await this.ready;
    if (this.exited) throw this.exited;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, texts })}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await gone;
    clearTimeout(timer);
  }
}
