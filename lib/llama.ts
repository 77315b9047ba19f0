// Starting the llama.cpp binaries this project builds (scripts/build-llama.sh):
// llama-server and the RPC worker ggml-rpc-server, each with a bounded wait for
// readiness and a one-line error that names the thing and the fix. Used by the tests,
// the benchmarks and the single-machine launcher (`npm start`).
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join, resolve } from "node:path";
import { EventEmitter } from "node:events";

export type LlamaProfile = "core2" | "sse2" | "native";
export type LlamaBinaryName = "llama-server" | "ggml-rpc-server" | "llama-bench" | "llama-cli" | "llama-quantize";

const REPO = resolve(__dirname, "..");
const prefixes = new Map<LlamaProfile, string>();

/** The install prefix build-llama.sh uses for a profile (the script is the one source
 * of truth for the cache key). AIDE_LLAMA_PREFIX overrides it for the core2 profile. */
export function llamaPrefix(profile: LlamaProfile = "core2"): string {
  if (profile === "core2" && process.env.AIDE_LLAMA_PREFIX) return process.env.AIDE_LLAMA_PREFIX;
  let prefix = prefixes.get(profile);
  if (!prefix) {
    prefix = execFileSync("bash", [join(REPO, "scripts", "build-llama.sh"), "--profile", profile, "--print-prefix"], {
      encoding: "utf8",
    }).trim();
    prefixes.set(profile, prefix);
  }
  return prefix;
}

export function llamaBinary(name: LlamaBinaryName, profile: LlamaProfile = "core2"): string {
  const path = join(llamaPrefix(profile), "bin", name);
  if (!existsSync(path)) {
    throw new Error(
      `llama.cpp ${profile} build not found (${path} is missing) — build it with: bash scripts/build-llama.sh --profile ${profile}`,
    );
  }
  return path;
}

export interface RunningProcess {
  url: string;
  host: string;
  port: number;
  pid: number;
  /** Everything the process printed so far (stdout + stderr). */
  log(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

export interface CommonOptions {
  host?: string;
  port?: number;
  threads: number;
  profile?: LlamaProfile;
  /** Run inside this network namespace (ip netns exec). */
  netns?: string;
  /** Prefix the command, e.g. ["qemu-x86_64", "-cpu", "core2duo"]. */
  wrapper?: string[];
  /** Bound on the wait for readiness (default 60 s). */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * The kernel stops the process (SIGTERM) when this Node process dies, however it dies —
   * even SIGKILL, where no exit handler runs (util-linux `setpriv --pdeathsig`, Linux).
   */
  diesWithParent?: boolean;
}

export interface LlamaServerOptions extends CommonOptions {
  model: string;
  /** RPC workers as host:port. */
  rpc?: string[];
  ctxSize?: number;
  /** Parallel slots (-np); always set explicitly. */
  parallel?: number;
  /** Host-RAM prompt cache in MiB (--cache-ram; default 1024). */
  cacheRamMiB?: number;
  /** The K/V cache's type (default f32: these core2/sse2 builds have no F16C, so f16 is
   * converted value by value; npm run bench:llm -- --only kv-cache). */
  kvCacheType?: "f16" | "f32";
  extraArgs?: string[];
}

export interface RpcWorkerOptions extends CommonOptions {
  /** Keep a local tensor cache (-c) so a restarted head loads faster. */
  cache?: boolean;
}

/** A free TCP port on host (the OS picks; closed again before returning). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
  });
}

/** Resolves true if host:port accepts a TCP connection within timeoutMs. */
export function canConnect(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((ok) => {
    const sock = connect({ host, port });
    const done = (v: boolean) => { sock.destroy(); clearTimeout(timer); ok(v); };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/** Like canConnect, but from inside a network namespace (the test hosts' 10.x
 * addresses are reachable only there). */
export function canConnectIn(netns: string | undefined, host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  if (!netns) return canConnect(host, port, timeoutMs);
  return new Promise((ok) => {
    const c = spawn("ip", ["netns", "exec", netns, "timeout", String(timeoutMs / 1000), "bash", "-c", 'exec 3<>"/dev/tcp/$0/$1"', host, String(port)], { stdio: "ignore" });
    c.once("exit", (code) => ok(code === 0));
    c.once("error", () => ok(false));
  });
}

/** GET url; 200 → true. Inside a namespace it goes through curl run there. */
export async function httpOk(url: string, netns?: string): Promise<boolean> {
  return (await httpGet(url, netns, 1)) !== undefined;
}

/** GET url within `timeoutS`: the body of a 200 answer, else undefined. Inside a namespace
 * it goes through curl run there (which fails on any status of 400 or more). */
export async function httpGet(url: string, netns?: string, timeoutS = 2): Promise<string | undefined> {
  if (!netns) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(timeoutS * 1000) });
      return r.status === 200 ? await r.text() : undefined;
    } catch { return undefined; }
  }
  return new Promise((done) => {
    const c = spawn("ip", ["netns", "exec", netns, "curl", "-sf", "-m", String(timeoutS), url], { stdio: ["ignore", "pipe", "ignore"] });
    let body = "";
    c.stdout.on("data", (d: Buffer) => { body += d.toString(); });
    c.once("exit", (code) => done(code === 0 ? body : undefined));
    c.once("error", () => done(undefined));
  });
}

/** Turns what a llama.cpp binary printed before dying into one line with the fix. */
export function explainFailure(what: string, log: string, host: string, port: number): string {
  const rpc = /Failed to connect to (\S+)/.exec(log);
  if (rpc) return `${what}: RPC worker ${rpc[1]} is not reachable — is ggml-rpc-server running there, and does the firewall let this host reach it?`;
  if (/couldn't bind|Address already in use|Failed to bind|bind failed/i.test(log)) {
    return `${what}: port ${port} on ${host} is already in use — stop whatever listens there or choose another port`;
  }
  if (/failed to load model|unable to load model|error loading model/i.test(log)) {
    const why = /(?:error loading model|llama_model_load): (.*)/.exec(log)?.[1] ?? "see its log";
    return `${what}: the model could not be loaded (${why.trim()}) — check the GGUF file, or download it again with: npm run models -- download`;
  }
  if (/Illegal instruction|SIGILL/.test(log)) {
    return `${what}: illegal instruction — this build uses instructions the CPU lacks; rebuild with scripts/build-llama.sh --profile core2 (or sse2)`;
  }
  const last = log.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "no output";
  return `${what}: exited before it was ready (last line: ${last.slice(0, 200)})`;
}

/** A child's output (stdout + stderr, the last ~100-200 KB) and how it ended. */
export function watchProcess(child: ChildProcess): { log: () => string; exited: Promise<number | string> } {
  let out = "";
  const keep = (b: Buffer) => { out += b.toString(); if (out.length > 200_000) out = out.slice(-100_000); };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<number | string>((ok) => {
    child.once("exit", (code, signal) => ok(code ?? signal ?? "unknown"));
    child.once("error", (e) => { out += `\n${e.message}`; ok("spawn-error"); });
  });
  return { log: () => out, exited };
}

function launch(binary: string, args: string[], opts: CommonOptions): { child: ChildProcess; log: () => string; exited: Promise<number | string> } {
  const argv = [...(opts.diesWithParent ? ["setpriv", "--pdeathsig", "SIGTERM", "--"] : []), ...(opts.wrapper ?? []), binary, ...args];
  const full = opts.netns ? ["ip", "netns", "exec", opts.netns, ...argv] : argv;
  const child = spawn(full[0], full.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
  return { child, ...watchProcess(child) };
}

function stopper(child: ChildProcess, exited: Promise<unknown>) {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  };
}

async function waitUntil(check: () => Promise<boolean>, exited: Promise<unknown>, timeoutMs: number): Promise<"ready" | "exited" | "timeout"> {
  let dead = false;
  void exited.then(() => { dead = true; });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead) return "exited";
    if (await check()) return "ready";
    await new Promise((r) => setTimeout(r, 100));
  }
  return "timeout";
}

/** llama-server's flags, each with why. */
export function llamaServerArgs(o: LlamaServerOptions & { host: string; port: number }): string[] {
  const args = [
    "-m", o.model,
    "--host", o.host, "--port", String(o.port),
    "-t", String(o.threads),                // explicit: spinning threads on busy cores are 10x slower
    "-c", String(o.ctxSize ?? 4096),
    "-np", String(o.parallel ?? 1),         // explicit slot count: the KV cache is split among slots
    "--jinja",                              // chat templates + native tool calling
    "--cache-reuse", "16",                  // reuse cached chunks >= 16 tokens when the middle of a prompt moved (reply chunks are short)
    "--cache-ram", String(o.cacheRamMiB ?? 1024), // host-RAM prompt cache; the 8192 MiB default is more than an 8 GB node can spare
    "--flash-attn", "off",                  // auto turns it on; without F16C (a Core 2) that is 1.2-1.6x slower once a conversation is cached (npm run bench:llm -- --only flash-attn)
    "--cache-type-k", o.kvCacheType ?? "f32", "--cache-type-v", o.kvCacheType ?? "f32", // f16 has the same missing F16C: 1.14-1.18x slower evaluation (npm run bench:llm -- --only kv-cache)
    "--no-webui",                           // the agent serves its own page
    "-lv", "4",                             // info log: where layers went (CPU / RPCn), load errors
  ];
  if (o.rpc?.length) args.push("--rpc", o.rpc.join(","), "-ngl", "999"); // layers go to the RPC devices
  return [...args, ...(o.extraArgs ?? [])];
}

export async function startLlamaServer(o: LlamaServerOptions): Promise<RunningProcess> {
  const host = o.host ?? "127.0.0.1";
  const port = o.port ?? (await freePort(o.netns ? "127.0.0.1" : host));
  const what = `llama-server on ${host}:${port}`;
  if (!existsSync(o.model) || !statSync(o.model).isFile()) {
    throw new Error(`${what}: model file not found: ${o.model} — download real models with: npm run models -- download (or pass the path of a .gguf file)`);
  }
  for (const w of o.rpc ?? []) {
    const [h, p] = [w.slice(0, w.lastIndexOf(":")), Number(w.slice(w.lastIndexOf(":") + 1))];
    // Checked first: llama-server itself would abort, or wait out a TCP timeout.
    if (!(await canConnectIn(o.netns, h, p))) {
      throw new Error(`${what}: RPC worker ${w} is not reachable — is ggml-rpc-server running there, and does the firewall let this host reach it?`);
    }
  }
  if (o.port !== undefined && (await canConnectIn(o.netns, host, port, 500))) {
    throw new Error(`${what}: port ${port} on ${host} is already in use — stop whatever listens there or choose another port`);
  }
  const binary = llamaBinary("llama-server", o.profile);
  const { child, log, exited } = launch(binary, llamaServerArgs({ ...o, host, port }), o);
  const url = `http://${host}:${port}`;
  const state = await waitUntil(() => httpOk(`${url}/health`, o.netns), exited, o.readyTimeoutMs ?? 60_000);
  const stop = stopper(child, exited);
  if (state !== "ready") {
    await stop();
    if (state === "timeout") throw new Error(`${what}: not ready after ${Math.round((o.readyTimeoutMs ?? 60_000) / 1000)} s — the model may be too large for this machine, or the CPU too slow; see its log`);
    throw new Error(explainFailure(what, log(), host, port));
  }
  return { url, host, port, pid: child.pid!, log, exited, stop };
}

export async function startRpcWorker(o: RpcWorkerOptions): Promise<RunningProcess> {
  const host = o.host ?? "127.0.0.1";
  const port = o.port ?? (await freePort(o.netns ? "127.0.0.1" : host));
  const what = `ggml-rpc-server on ${host}:${port}`;
  if (o.port !== undefined && (await canConnectIn(o.netns, host, port, 500))) {
    throw new Error(`${what}: port ${port} on ${host} is already in use — stop whatever listens there or choose another port`);
  }
  const args = ["-H", host, "-p", String(port), "-t", String(o.threads)];
  if (o.cache) args.push("-c"); // tensors cached on local disk: a restarted head loads faster
  const { child, log, exited } = launch(llamaBinary("ggml-rpc-server", o.profile), args, o);
  // The worker answers no HTTP and its stdout is block-buffered through a pipe: it is
  // ready when its port accepts a connection.
  const state = await waitUntil(() => canConnectIn(o.netns, host, port, 500), exited, o.readyTimeoutMs ?? 30_000);
  const stop = stopper(child, exited);
  if (state !== "ready") {
    await stop();
    throw new Error(state === "timeout" ? `${what}: did not start listening within the bound` : explainFailure(what, log(), host, port));
  }
  return { url: `${host}:${port}`, host, port, pid: child.pid!, log, exited, stop };
}

/**
 * Keeps one llama-server running: llama-server aborts on its next request when an RPC
 * worker goes away (upstream behaviour), so whatever starts it must start it again —
 * Nomad's restart policy on the cluster, this supervisor on a single machine.
 * Emits "restarted" (RunningProcess) and "failed" (Error) as it goes.
 */
export class LlamaServerSupervisor extends EventEmitter {
  private current: RunningProcess | undefined;
  private stopped = false;
  restarts = 0;
  lastError: Error | undefined;

  constructor(private readonly options: LlamaServerOptions & { port: number }, private readonly backoffMs = [250, 500, 1000, 2000, 5000]) {
    super();
  }

  get url(): string { return `http://${this.options.host ?? "127.0.0.1"}:${this.options.port}`; }
  get process(): RunningProcess | undefined { return this.current; }

  async start(): Promise<this> {
    this.current = await startLlamaServer(this.options);
    this.watch(this.current);
    return this;
  }

  private watch(p: RunningProcess): void {
    void p.exited.then(async () => {
      let attempt = 0;
      while (!this.stopped) {
        await new Promise((r) => setTimeout(r, this.backoffMs[Math.min(attempt, this.backoffMs.length - 1)]));
        if (this.stopped) return;
        try {
          this.current = await startLlamaServer(this.options);
          this.restarts++;
          this.lastError = undefined;
          this.emit("restarted", this.current);
          this.watch(this.current);
          return;
        } catch (e) {
          this.lastError = e as Error;
          this.emit("failed", e);
          attempt++;
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.current?.stop();
  }
}
