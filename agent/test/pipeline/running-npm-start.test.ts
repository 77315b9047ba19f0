/**
 * `npm start` on this machine: llama-server from the local legacy build plus the agent,
 * run as a user would (a child process), talked to over its WebSocket, then stopped.
 * It runs what `npm start` runs after its `prestart` setup check (scripts/setup.sh).
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ScriptedClient } from "../../src/transport";

const ROOT = path.resolve(__dirname, "../../..");

describe("npm start", () => {
  let child: ChildProcess | undefined;
  let output = "";
  const emptyModels = fs.mkdtempSync(path.join(os.tmpdir(), "aide-no-models-"));
  const memoryDir = fs.mkdtempSync(path.join(os.tmpdir(), "aide-memory-"));

  afterAll(async () => {
    if (child && child.exitCode === null) {
      // The whole group: a failed run must not leave its llama-servers behind.
      try { process.kill(-child.pid!, "SIGKILL"); } catch { /* already gone */ }
    }
    fs.rmSync(emptyModels, { recursive: true, force: true });
    fs.rmSync(memoryDir, { recursive: true, force: true });
  });

  it("says loudly that it runs on tiny models, prints the page URL, answers a turn, and stops everything on Ctrl-C", async () => {
    child = spawn(process.execPath, [require.resolve("ts-node/dist/bin.js"), "--transpile-only", "scripts/start-local.ts", "--port", "0", "--llm-max-tokens", "8"], {
      cwd: ROOT,
      env: { ...process.env, AIDE_MODELS_DIR: emptyModels, AIDE_MEMORY_DIR: memoryDir, LLAMA_THREADS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so cleanup can reach llama-server too
    });
    child.stdout!.on("data", (d) => { output += d.toString(); });
    child.stderr!.on("data", (d) => { output += d.toString(); });
    const deadline = Date.now() + 120_000;
    while (!/Open (http:\/\/localhost:\d+\/)/.test(output)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not come up:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const url = /Open (http:\/\/localhost:\d+\/)/.exec(output)![1];
    expect(output).toContain(`NO REAL MODELS: ${emptyModels} has no language model and no speech recognizer`);
    expect(output).toContain(`npm run models -- download --dir '${emptyModels}'`);

    const health = await (await fetch(`${url}health`)).json();
    expect(health).toMatchObject({ status: "ok", llm: "ok", voice: "espeak-ng en-us" });
    expect(await (await fetch(url)).text()).toContain("<button id=\"talk\">");
    expect((await fetch(`${url}client.js`)).status).toBe(200);

    const client = await ScriptedClient.connect(url.replace("http://localhost", "ws://127.0.0.1") + "ws");
    await client.ready();
    client.sendText("Hello, who are you?");
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 60_000);
    expect(client.audioMs()).toBeGreaterThan(200);
    // Long-term memory is on (a second llama-server embeds) and keeps a statement on disk.
    expect(output).toContain(`memory: long-term memory in ${memoryDir} (0 memories)`);
    const since = client.messages.length;
    client.sendText("My name is Ana and I like green tea.");
    await client.waitForMessage((m) => m.type === "bot-stopped-speaking", 60_000, since);
    const deadlineSaved = Date.now() + 10_000;
    const saved = () => fs.existsSync(path.join(memoryDir, "index.json")) && fs.readFileSync(path.join(memoryDir, "index.json"), "utf8").includes("I like green tea");
    while (!saved() && Date.now() < deadlineSaved) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(saved()).toBe(true);
    client.close();

    const llamaPort = Number(/LLM: http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
    const embedPort = Number(/embeddings from http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
    expect(embedPort).toBeGreaterThan(0);
    expect(llamaPort).toBeGreaterThan(0);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child!.once("exit", (c) => resolve(c)));
    expect(code).toBe(0);
    // llama-server went with it: its port no longer answers.
    await expect(fetch(`http://127.0.0.1:${llamaPort}/health`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${embedPort}/health`)).rejects.toThrow();
  }, 180_000);
});
