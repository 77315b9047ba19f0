// The legacy binaries do real work on an emulated Core 2 Duo (qemu-user's core2duo CPU
// model raises SIGILL on AVX). Paired with the instruction scan, which covers SSE4.
// @needs qemu
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { llamaBinary, startLlamaServer, RunningProcess } from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";

const CORE2 = ["qemu-x86_64", "-cpu", "core2duo"];

describe("on an emulated Core 2 Duo", () => {
  let model: string;
  let server: RunningProcess | undefined;
  beforeAll(async () => { model = await ensureTinyChatModel(); });
  afterAll(async () => { await server?.stop(); });

  it("the emulator really refuses AVX (so a pass below means something)", () => {
    const dir = mkdtempSync(join(tmpdir(), "aide-qemu-"));
    writeFileSync(join(dir, "avx.c"), `
      #include <immintrin.h>
      __attribute__((target("avx"))) __attribute__((noinline)) float f(float x) { __m256 v = _mm256_set1_ps(x); return _mm256_cvtss_f32(_mm256_add_ps(v, v)); }
      int main(int c, char **v) { (void)v; return (int)f((float)c); }`);
    execFileSync("cc", ["-O2", "-o", join(dir, "avx"), join(dir, "avx.c")]);
    const native = spawnSync(join(dir, "avx"));
    const emulated = spawnSync(CORE2[0], [...CORE2.slice(1), join(dir, "avx")]);
    expect(native.signal).toBeNull();
    expect(emulated.signal).toBe("SIGILL");
  });

  it("llama-bench measures prompt processing and generation with the tiny model", () => {
    const r = spawnSync(CORE2[0], [...CORE2.slice(1), llamaBinary("llama-bench"), "-m", model, "-p", "32", "-n", "16", "-t", "1", "-r", "1", "-o", "json"], {
      encoding: "utf8", timeout: 300_000,
    });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const results = JSON.parse(r.stdout) as { n_prompt: number; n_gen: number; avg_ts: number; cpu_info: string }[];
    expect(results.map((x) => [x.n_prompt, x.n_gen])).toEqual([[32, 0], [0, 16]]);
    for (const x of results) expect(x.avg_ts).toBeGreaterThan(0);
  });

  it("llama-server answers a chat completion", async () => {
    server = await startLlamaServer({ model, threads: 1, wrapper: CORE2, readyTimeoutMs: 180_000 });
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "Hello, who are you?" }], max_tokens: 8, temperature: 0 }),
      signal: AbortSignal.timeout(180_000),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBe(8);
    expect(body.choices[0].message.content.trim().length).toBeGreaterThan(0);
    // It is the emulator's process that answered, not a native one.
    expect(execFileSync("ps", ["-o", "args=", "-p", String(server.pid)], { encoding: "utf8" })).toContain("qemu-x86_64 -cpu core2duo");
  });
});
