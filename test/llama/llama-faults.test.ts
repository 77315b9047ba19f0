// Faults a user will meet — a missing or broken model, an unreachable RPC worker, a busy
// port, a worker that dies — each give one line naming the thing and the fix, within a
// bound, and a dead worker does not leave the service down once it is back.
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { createServer, Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  explainFailure, freePort, llamaBinary, LlamaServerSupervisor, RunningProcess, startLlamaServer, startRpcWorker,
} from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { postJson } from "../support/chat";

const oneLine = (e: unknown) => {
  const m = (e as Error).message;
  expect(m.split("\n")).toHaveLength(1);
  return m;
};

describe("llama.cpp faults", () => {
  let model: string;
  const cleanup: (() => Promise<unknown>)[] = [];
  beforeAll(async () => { model = await ensureTinyChatModel(); });
  afterAll(async () => { for (const c of cleanup.reverse()) await c().catch(() => undefined); });

  it("a missing model file names the file and the download command", async () => {
    const err = await startLlamaServer({ model: "/nowhere/model.gguf", threads: 1 }).catch((e) => e);
    expect(oneLine(err)).toMatch(/model file not found: \/nowhere\/model\.gguf — download real models with: npm run models -- download/);
  });

  it("a file that is not a GGUF model says it could not be loaded", async () => {
    const bad = join(mkdtempSync(join(tmpdir(), "aide-bad-")), "broken.gguf");
    writeFileSync(bad, Buffer.alloc(4096, 7));
    const started = Date.now();
    const err = await startLlamaServer({ model: bad, threads: 1, readyTimeoutMs: 30_000 }).catch((e) => e);
    expect(oneLine(err)).toMatch(/the model could not be loaded .* npm run models -- download/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("an unreachable RPC worker is named, with what to check", async () => {
    const port = await freePort();
    const err = await startLlamaServer({ model, threads: 1, rpc: [`127.0.0.1:${port}`] }).catch((e) => e);
    expect(oneLine(err)).toContain(`RPC worker 127.0.0.1:${port} is not reachable — is ggml-rpc-server running there`);
  });

  it("a port already in use is named, for the server and for a worker", async () => {
    const port = await freePort();
    const blocker: Server = createServer().listen(port, "127.0.0.1");
    cleanup.push(() => new Promise((r) => blocker.close(r)));
    await new Promise((r) => blocker.once("listening", r));
    const e1 = await startLlamaServer({ model, threads: 1, port }).catch((e) => e);
    expect(oneLine(e1)).toBe(`llama-server on 127.0.0.1:${port}: port ${port} on 127.0.0.1 is already in use — stop whatever listens there or choose another port`);
    const e2 = await startRpcWorker({ threads: 1, port }).catch((e) => e);
    expect(oneLine(e2)).toContain(`port ${port} on 127.0.0.1 is already in use`);
  });

  it("explains llama-server's own bind failure the same way (its real log)", async () => {
    // Bypass the launcher's pre-check: run the binary itself against a taken port.
    const port = await freePort();
    const blocker: Server = createServer().listen(port, "127.0.0.1");
    await new Promise((r) => blocker.once("listening", r));
    const run = spawnSync(llamaBinary("llama-server"), ["-m", model, "--host", "127.0.0.1", "--port", String(port), "-t", "1", "--no-webui"], {
      encoding: "utf8", timeout: 60_000,
    });
    await new Promise((r) => blocker.close(r));
    expect(run.status).not.toBe(0);
    expect(explainFailure("llama-server", run.stdout + run.stderr, "127.0.0.1", port))
      .toBe(`llama-server: port ${port} on 127.0.0.1 is already in use — stop whatever listens there or choose another port`);
  });

  it("comes back after an RPC worker dies: llama-server aborts, the supervisor restarts it", async () => {
    const [p1, p2, headPort] = [await freePort(), await freePort(), await freePort()];
    let w1 = await startRpcWorker({ threads: 1, port: p1 });
    const w2 = await startRpcWorker({ threads: 1, port: p2 });
    cleanup.push(() => w1.stop(), () => w2.stop());
    const sup = new LlamaServerSupervisor({ model, threads: 1, port: headPort, rpc: [w1.url, w2.url] }, [100, 200, 400]);
    await sup.start();
    cleanup.push(() => sup.stop());
    const ask = () => postJson<{ usage: { completion_tokens: number } }>(`${sup.url}/v1/chat/completions`, {
      messages: [{ role: "user", content: "hi" }], max_tokens: 4, temperature: 0,
    }, 20_000);
    expect((await ask()).body.usage.completion_tokens).toBe(4);

    const firstPid = sup.process!.pid;
    await w1.stop();
    // The upstream behaviour the supervisor exists for: the next request kills the head.
    await expect(ask()).rejects.toThrow();
    await sup.process!.exited;
    // While the worker is down, the restart fails with the reason, and keeps trying.
    const failure = await new Promise<Error>((r) => sup.once("failed", r));
    expect(failure.message).toContain(`RPC worker ${w1.url} is not reachable`);

    w1 = await startRpcWorker({ threads: 1, port: p1 });
    const restarted = await new Promise<RunningProcess>((r) => sup.once("restarted", r));
    expect(restarted.pid).not.toBe(firstPid);
    expect((await ask()).body.usage.completion_tokens).toBe(4);
  });
});
