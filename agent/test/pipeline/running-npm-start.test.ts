/**
 * `npm start` on this machine: llama-server from the local legacy build plus the agent,
 * run as a user would (a child process), talked to over its WebSocket, then stopped.
 * It runs what `npm start` runs after its `prestart` setup check (scripts/setup.sh).
 *
 * @slow: runs npm start twice, llama-server included (about 15 s alone)
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ScriptedClient } from "../../src/transport";

const ROOT = path.resolve(__dirname, "../../..");

/** `npm start` as a child: the ts-node process itself, or through npm as a user types it. */
interface Started { child: ChildProcess; output(): string; exited: Promise<number | null> }

describe("npm start", () => {
  const children: ChildProcess[] = [];
  const emptyModels = fs.mkdtempSync(path.join(os.tmpdir(), "aide-no-models-"));
  const memoryDir = fs.mkdtempSync(path.join(os.tmpdir(), "aide-memory-"));

  afterAll(async () => {
    for (const child of children) {
      // The whole group: a failed run must not leave its llama-servers behind.
      try { process.kill(-child.pid!, "SIGKILL"); } catch { /* already gone */ }
    }
    fs.rmSync(emptyModels, { recursive: true, force: true });
    fs.rmSync(memoryDir, { recursive: true, force: true });
  });

  function start(args: string[], via: "ts-node" | "npm" = "ts-node"): Started {
    const argv = via === "npm"
      ? ["npm", ["start", "--ignore-scripts", "--", ...args]] as const // --ignore-scripts: not the prestart setup check
      : [process.execPath, [require.resolve("ts-node/dist/bin.js"), "--transpile-only", "scripts/start-local.ts", ...args]] as const;
    const child = spawn(argv[0], [...argv[1]], {
      cwd: ROOT,
      env: { ...process.env, AIDE_MODELS_DIR: emptyModels, AIDE_MEMORY_DIR: memoryDir, LLAMA_THREADS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so cleanup can reach llama-server too
    });
    children.push(child);
    let output = "";
    child.stdout!.on("data", (d) => { output += d.toString(); });
    child.stderr!.on("data", (d) => { output += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, output: () => output, exited };
  }

  /** Waits for the page URL; returns it with the two llama-servers' ports and the speech services'. */
  async function running(s: Started): Promise<{ url: string; llamaPort: number; embedPort: number; speechPorts: number[] }> {
    const deadline = Date.now() + 120_000;
    while (!/Open (http:\/\/localhost:\d+\/)/.test(s.output())) {
      if (s.child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not come up:\n${s.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return {
      url: /Open (http:\/\/localhost:\d+\/)/.exec(s.output())![1],
      llamaPort: Number(/LLM: http:\/\/127\.0\.0\.1:(\d+)/.exec(s.output())?.[1]),
      embedPort: Number(/embeddings from http:\/\/127\.0\.0\.1:(\d+)/.exec(s.output())?.[1]),
      speechPorts: [...s.output().matchAll(/(?:speech recognizer|voice): Wyoming service on tcp:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])),
    };
  }

  /** Something accepts TCP connections on 127.0.0.1:port. */
  const listening = (port: number) => new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => { socket.destroy(); resolve(true); });
    socket.once("error", () => resolve(false));
  });

  /** Every port stops accepting connections within `ms`: what listened there has gone. */
  async function allGone(ports: number[], ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const answering = (await Promise.all(ports.map(async (p) => ((await listening(p)) ? p : undefined)))).filter(Boolean);
      if (answering.length === 0) return;
      if (Date.now() > deadline) throw new Error(`still answering after ${ms} ms on port(s) ${answering.join(", ")}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it("says loudly that it runs on tiny models, prints the page URL, answers a turn, and stops everything on Ctrl-C", async () => {
    const started = start(["--port", "0", "--llm-max-tokens", "8", "--benchmark"]);
    const { child } = started;
    const output = started.output;
    const { url, llamaPort, embedPort, speechPorts } = await running(started);
    expect(output()).toContain(`NO REAL MODELS: ${emptyModels} has no language model and no speech recognizer`);
    expect(output()).toContain(`npm run models -- download --dir '${emptyModels}'`);

    const health = await (await fetch(`${url}health`)).json();
    // The recognizer and the voice run as Wyoming services, as the cluster's aide-stt and aide-tts do.
    expect(speechPorts).toHaveLength(2);
    expect(health).toMatchObject({ status: "ok", llm: "ok", voice: expect.stringMatching(/^espeak-ng en-us at tcp:\/\/127\.0\.0\.1:\d+$/) });
    const voicePort = /voice: Wyoming service on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(output())![1];
    expect(health.voice).toBe(`espeak-ng en-us at tcp://127.0.0.1:${voicePort}`);
    expect(await (await fetch(url)).text()).toContain("<button id=\"talk\">");
    expect((await fetch(`${url}client.js`)).status).toBe(200);

    const client = await ScriptedClient.connect(url.replace("http://localhost", "ws://127.0.0.1") + "ws");
    await client.ready();
    client.sendText("Hello, who are you?");
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 60_000);
    expect(client.audioMs()).toBeGreaterThan(200);
    // --benchmark: the seed's block exactly, header to rule, no prefix on any line (a typed turn has no STT figure)
    const figure = "(\\d+\\.\\d{4}s|n/a)";
    const block = new RegExp(`^--- BENCHMARK RESULTS ---\nSTT Latency: ${figure}\nLLM Time to First Token: ${figure}\n` +
      `TTS Time to First Audio: ${figure}\nTotal Pipeline Latency: ${figure}\n-------------------------$`, "m");
    expect(output()).toMatch(block);
    expect(block.exec(output())![4]).toMatch(/^\d+\.\d{4}s$/);
    // Long-term memory is on (a second llama-server embeds) and keeps a statement on disk.
    expect(output()).toContain(`memory: long-term memory in ${memoryDir} (0 memories)`);
    const since = client.messages.length;
    client.sendText("My name is Ana and I like green tea.");
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 60_000, since);
    const deadlineSaved = Date.now() + 10_000;
    const saved = () => fs.existsSync(path.join(memoryDir, "index.json")) && fs.readFileSync(path.join(memoryDir, "index.json"), "utf8").includes("I like green tea");
    while (!saved() && Date.now() < deadlineSaved) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(saved()).toBe(true);
    client.close();

    expect(embedPort).toBeGreaterThan(0);
    expect(llamaPort).toBeGreaterThan(0);
    child.kill("SIGINT");
    expect(await started.exited).toBe(0);
    // llama-server went with it: its port no longer answers.
    await expect(fetch(`http://127.0.0.1:${llamaPort}/health`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${embedPort}/health`)).rejects.toThrow();
    await allGone(speechPorts, 10_000);
  }, 180_000);

  it("stops the agent and both llama-servers on SIGTERM to npm (kill, systemd, a closing terminal)", async () => {
    const started = start(["--port", "0", "--memory-dir", memoryDir], "npm");
    const { url, llamaPort, embedPort, speechPorts } = await running(started);
    const agentPort = Number(new URL(url).port);
    expect(speechPorts).toHaveLength(2);
    const at = Date.now();
    started.child.kill("SIGTERM"); // npm's pid: what `kill` and systemd signal
    await allGone([agentPort, llamaPort, embedPort, ...speechPorts], 10_000);
    process.stdout.write(`npm start: everything gone ${Date.now() - at} ms after SIGTERM to npm\n`);
  }, 180_000);

  it("stops its llama-servers when the agent process dies without a chance to clean up (SIGKILL)", async () => {
    const started = start(["--port", "0", "--memory-dir", memoryDir]);
    const { llamaPort, embedPort, speechPorts } = await running(started);
    expect(speechPorts).toHaveLength(2);
    const at = Date.now();
    started.child.kill("SIGKILL");
    await allGone([llamaPort, embedPort, ...speechPorts], 10_000);
    process.stdout.write(`npm start: llama-servers and speech services gone ${Date.now() - at} ms after the agent was killed\n`);
  }, 180_000);

  it("refuses a port in use at once, before starting any llama-server", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "0.0.0.0", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const at = Date.now();
      const started = start(["--port", String(port)]);
      expect(await started.exited).toBe(1);
      expect(started.output()).toContain(`port ${port} is in use: pick another with npm start -- --port <port>`);
      expect(started.output()).not.toContain("starting llama-server");
      process.stdout.write(`npm start: port ${port} refused after ${Date.now() - at} ms\n`);
    } finally {
      blocker.close();
    }
  }, 60_000);
});
