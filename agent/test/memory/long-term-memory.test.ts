// vectra's uuid is ESM-only: Node loads it (require(esm)), jest's CommonJS runtime cannot.
// Jest only: give vectra crypto.randomUUID under uuid's name (the agent uses the real one).
jest.mock(require.resolve("uuid", { paths: [require("node:path").dirname(require.resolve("vectra"))] }), () => ({
  v4: () => require("node:crypto").randomUUID(),
}));

/**
 * Long-term memory: remembers the user's statements across restarts (real embeddings from
 * llama-server on the tiny embedding model), keeps no filler, stays under its cap by
 * dropping the least recalled and oldest, and survives a corrupt index on disk.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startLlamaServer, type RunningProcess } from "../../../lib/llama";
import { ensureTinyEmbeddingModel } from "../../../scripts/models/tiny";
import { LlamaServerEmbedder } from "../../src/twin/memory/embedder";
import { atomicFileStorageClass } from "../../src/twin/memory/atomic-file-storage";
import { LongTermMemory, isWorthKeeping } from "../../src/twin/memory/long-term-memory";
import { startTinyLlm } from "../llm/tiny-llm";
import { startHarness } from "../twin/harness";
import { HashEmbedder } from "./hash-embedder";

const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "aide-memory-"));
  dirs.push(dir);
  return join(dir, "memory");
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("long-term memory with real embeddings", () => {
  let embeddings: RunningProcess;
  let chat: RunningProcess;

  beforeAll(async () => {
    embeddings = await startLlamaServer({
      model: await ensureTinyEmbeddingModel(),
      threads: 1,
      parallel: 1,
      ctxSize: 2048,
      extraArgs: ["--embeddings", "--pooling", "mean"],
    });
    chat = await startTinyLlm();
  });
  afterAll(async () => {
    await embeddings?.stop();
    await chat?.stop();
  });

  it("remembers what the user said after the agent restarts, and puts it in the context block before their words", async () => {
    const dir = scratch();
    // topK 1 and no similarity floor: with one memory stored, any question recalls it
    // (the tiny model's embeddings carry no meaning to rank by).
    const open = () => LongTermMemory.open({ dir, embedder: new LlamaServerEmbedder(embeddings.url), conversationId: "c1", topK: 1, minScore: -1 });
    const llm = { baseUrl: chat.url, slotId: 0, maxTokens: 4, temperature: 0 };

    const first = startHarness({ llm, memory: { longTerm: await open() } });
    await first.say("my dog is called Rex and he is nine");
    await first.say("ok");
    await first.say("what time is it?");
    await first.stop(); // flushes pending saves

    const memory = await open();
    expect((await memory.all()).map((m) => m.text)).toEqual(["my dog is called Rex and he is nine"]);
    const second = startHarness({ llm, memory: { longTerm: memory } });
    try {
      const { turn } = await second.say("what is my dog called?");
      const user = turn!.messages[turn!.messages.length - 1].content;
      expect(user).toBe("Context:\n- You remember: my dog is called Rex and he is nine\n\nwhat is my dog called?");
      // The history of the new session starts empty: only the context block carries it over.
      expect(turn!.messages.map((m) => m.role)).toEqual(["system", "user"]);
    } finally {
      await second.stop();
    }
  });

  it("recalls by similarity with the stored text, time and conversation", async () => {
    const memory = await LongTermMemory.open({ dir: scratch(), embedder: new LlamaServerEmbedder(embeddings.url), conversationId: "c7", topK: 2, minScore: 0 });
    const before = Date.now();
    await Promise.all([
      memory.remember("I work as a nurse at the city hospital"),
      memory.remember("my sister lives in Lisbon with two cats"),
    ]);
    const recalled = await memory.recall("my sister lives in Lisbon with two cats");
    expect(recalled[0]).toBe("my sister lives in Lisbon with two cats");
    const stored = await memory.all();
    expect(stored.every((m) => m.conversationId === "c7" && m.at >= before && m.recalls === 0)).toBe(true);
  });

  it("stores a statement said again once, and leaves out a recalled memory another one contains", async () => {
    const memory = await LongTermMemory.open({ dir: scratch(), embedder: new LlamaServerEmbedder(embeddings.url), conversationId: "c8", topK: 3, minScore: -1 });
    await memory.remember("my dog is called Rex");
    const first = (await memory.all())[0];
    await new Promise((r) => setTimeout(r, 5));
    await Promise.all([memory.remember("My dog is called Rex."), memory.remember("my dog is called rex"), memory.remember("my dog is called Rex and he is nine")]);
    const stored = await memory.all();
    expect(stored.map((m) => m.text).sort()).toEqual(["my dog is called Rex", "my dog is called Rex and he is nine"]);
    // Said again: the one stored is kept, its time refreshed.
    expect(stored.find((m) => m.text === "my dog is called Rex")!.at).toBeGreaterThan(first.at);
    await memory.remember("I work as a nurse at the city hospital");
    // Any question recalls everything here (no floor): the shorter Rex is inside the longer one.
    const recalled = await memory.recall("what is my dog called");
    expect(recalled.sort()).toEqual(["I work as a nurse at the city hospital", "my dog is called Rex and he is nine"]);
    // Recalled, then said again before the next save: that save keeps both (its recall counted, its time refreshed).
    const before = (await memory.all()).find((m) => m.text === "my dog is called Rex and he is nine")!;
    await new Promise((r) => setTimeout(r, 5));
    await memory.remember("My dog is called Rex, and he is nine!");
    const after = (await memory.all()).filter((m) => /rex and he is nine/i.test(m.text));
    expect(after).toHaveLength(1);
    expect(after[0].recalls).toBe(before.recalls + 1);
    expect(after[0].at).toBeGreaterThan(before.at);
  });
});

describe("long-term memory when the embedding server is down", () => {
  it("keeps what it could not save and saves it once the server is back", async () => {
    const port = await freePort();
    const logs: string[] = [];
    const memory = await LongTermMemory.open({
      dir: scratch(), embedder: new LlamaServerEmbedder(`http://127.0.0.1:${port}`), conversationId: "c", log: (l) => logs.push(l),
    });
    await expect(memory.remember("my favourite colour is green")).rejects.toThrow(
      new RegExp(`embedding server at http://127.0.0.1:${port}/v1/embeddings is unreachable .*--embeddings --pooling mean`),
    );
    await memory.flush();
    expect(logs.join("\n")).toMatch(/long-term memory: could not save .*; what is stored stays, new memories wait in RAM \(1 now\), and saving is retried every 30 s/);
    expect(await memory.size()).toBe(0);
    const server = await startLlamaServer({
      model: await ensureTinyEmbeddingModel(), threads: 1, parallel: 1, ctxSize: 2048, port, extraArgs: ["--embeddings", "--pooling", "mean"],
    });
    try {
      await memory.remember("I usually wake up at six");
      expect((await memory.all()).map((m) => m.text).sort()).toEqual(["I usually wake up at six", "my favourite colour is green"]);
    } finally {
      await server.stop();
    }
  });
});

describe("long-term memory on a full disk", () => {
  let chat: RunningProcess;
  beforeAll(async () => { chat = await startTinyLlm(); });
  afterAll(async () => { await chat?.stop(); });

  /** The real storage, except that while `full` every write gets the kernel's own ENOSPC (/dev/full). */
  function fillableDisk() {
    const Atomic = atomicFileStorageClass();
    return new (class extends Atomic {
      full = false;
      async upsertFile(filePath: string, content: Buffer | string): Promise<void> {
        if (this.full) return writeFile("/dev/full", content);
        return super.upsertFile(filePath, content);
      }
    })();
  }

  it("goes on answering, says so once, loses nothing stored, and saves what waited once there is room", async () => {
    const dir = scratch();
    const disk = fillableDisk();
    const logs: string[] = [];
    const memory = await LongTermMemory.open({ dir, embedder: new HashEmbedder(), conversationId: "c", storage: disk, retryMs: 200, log: (l) => logs.push(l) });
    await memory.remember("my name is Ana and I live in Porto");
    disk.full = true;
    const h = startHarness({ llm: { baseUrl: chat.url, slotId: 0, maxTokens: 4, temperature: 0 }, memory: { longTerm: memory } });
    try {
      for (const said of ["my dog is called Rex", "I work nights at the bakery", "my sister lives in Lyon"]) {
        const { text, turn } = await h.say(said);
        expect(turn?.outcome).toBe("answered");
        expect(text.length).toBeGreaterThan(0);
      }
    } finally {
      await h.stop().catch(() => undefined); // its flush waits for the failing save
    }
    await memory.flush();
    const failures = logs.filter((l) => /could not save/.test(l));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/ENOSPC.* — the disk holding .* is full: free some space there; what is stored stays/);
    // What was stored is still on disk, whole.
    expect(JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).items.map((i: { metadata: { text: string } }) => i.metadata.text)).toEqual(["my name is Ana and I live in Porto"]);

    disk.full = false; // room again: no new memory needed for the waiting ones to be saved
    const deadline = Date.now() + 5000;
    while ((await memory.size()) < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const reopened = await LongTermMemory.open({ dir, embedder: new HashEmbedder(), conversationId: "c" });
    expect((await reopened.all()).map((m) => m.text).sort()).toEqual(
      ["I work nights at the bakery", "my dog is called Rex", "my name is Ana and I live in Porto", "my sister lives in Lyon"],
    );
    expect(logs.filter((l) => /saving again/.test(l))).toHaveLength(1);
  });
});

describe("long-term memory bookkeeping", () => {
  it("keeps what the household said to the agent's user alone: folder 0700, files 0600, even in a folder an older Aide made", async () => {
    const dir = scratch();
    mkdirSync(dir, { mode: 0o755 });
    const memory = await LongTermMemory.open({ dir, embedder: new HashEmbedder(), conversationId: "c1" });
    await memory.remember("my dog is called Rex and he is nine");
    await memory.flush();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect([f, statSync(join(dir, f)).mode & 0o777]).toEqual([f, 0o600]);
  });

  it("keeps statements and drops filler and questions", async () => {
    for (const text of ["ok", "Okay.", "thank you", "yes", "hmm", "what time is it?", "How are you", "can you help me", "", "hi there"]) {
      expect([text, isWorthKeeping(text)]).toEqual([text, false]);
    }
    for (const text of ["my name is Ana", "I am allergic to peanuts.", "The car is parked on level three"]) {
      expect([text, isWorthKeeping(text)]).toEqual([text, true]);
    }
    const memory = await LongTermMemory.open({ dir: scratch(), embedder: new HashEmbedder(), conversationId: "c" });
    await memory.remember("ok");
    await memory.remember("is it raining?");
    await memory.remember("my name is Ana");
    expect((await memory.all()).map((m) => m.text)).toEqual(["my name is Ana"]);
  });

  it("serves every session from one index, each memory tagged with its conversation", async () => {
    const memory = await LongTermMemory.open({ dir: scratch(), embedder: new HashEmbedder(), conversationId: "agent" });
    const kitchen = memory.forConversation("kitchen-tablet");
    const phone = memory.forConversation("phone");
    await Promise.all([kitchen.remember("the oven timer is set for six"), phone.remember("my train leaves at nine"), kitchen.remember("we are out of milk today")]);
    const stored = (await memory.all()).map((m) => `${m.conversationId}: ${m.text}`).sort();
    expect(stored).toEqual(["kitchen-tablet: the oven timer is set for six", "kitchen-tablet: we are out of milk today", "phone: my train leaves at nine"]);
    // Another session recalls what the first one heard.
    expect(await phone.recall("we are out of milk today")).toContain("we are out of milk today");
  });

  it("stays under its cap: the least recalled, then the oldest, memories go first", async () => {
    const memory = await LongTermMemory.open({ dir: scratch(), embedder: new HashEmbedder(), conversationId: "c", maxItems: 5, topK: 1, minScore: 0.99 });
    for (let i = 1; i <= 5; i++) await memory.remember(`the user said fact number ${i}`);
    // Fact 1 is the oldest but gets recalled, so it outlives facts 2 and 3.
    expect(await memory.recall("the user said fact number 1")).toEqual(["the user said fact number 1"]);
    await memory.remember("the user said fact number 6");
    await memory.remember("the user said fact number 7");
    const texts = (await memory.all()).map((m) => m.text).sort();
    expect(texts).toEqual([1, 4, 5, 6, 7].map((i) => `the user said fact number ${i}`));
    expect(await memory.size()).toBe(5);
    expect((await memory.all()).find((m) => m.text.endsWith("number 1"))?.recalls).toBe(1);
  });

  it.each([
    ["half-written JSON", '{"version":1,"metadata_config":{},"items":[{"id":"a","vec'],
    ["an empty file (what vectra's own storage leaves after a kill)", ""],
    ["items without vectors", '{"version":1,"metadata_config":{},"items":[{"id":"a","metadata":{"text":"x"}}]}'],
  ])("moves an index with %s aside with a warning and starts a fresh one", async (_what, content) => {
    const dir = scratch();
    const first = await LongTermMemory.open({ dir, embedder: new HashEmbedder(), conversationId: "c" });
    await first.remember("this memory was there before");
    writeFileSync(join(dir, "index.json"), content);

    const logs: string[] = [];
    const memory = await LongTermMemory.open({ dir, embedder: new HashEmbedder(), conversationId: "c", log: (l) => logs.push(l) });
    expect(logs).toHaveLength(1);
    const aside = /moved it to (\S+) and started a fresh one/.exec(logs[0])?.[1];
    expect(logs[0]).toContain(`the index in ${dir} is unreadable`);
    expect(aside).toBeDefined();
    // Nothing silently lost: the broken file is kept, byte for byte.
    expect(readFileSync(join(aside!, "index.json"), "utf8")).toBe(content);
    expect(await memory.size()).toBe(0);
    await memory.remember("a new memory after the repair");
    expect(await memory.recall("a new memory after the repair")).toEqual(["a new memory after the repair"]);
    expect(readdirSync(join(dir, ".."))).toEqual(expect.arrayContaining(["memory", expect.stringMatching(/^memory\.corrupt-/)]));
  });
});

describe("long-term memory on an older Node.js", () => {
  it("says which Node.js it needs instead of a bare module error", () => {
    // Node 20.19+ can require ES modules (vectra's uuid is one); this flag turns that off,
    // as on older releases.
    const script = `require("./agent/src/twin/memory/long-term-memory").LongTermMemory.open({ dir: ${JSON.stringify(scratch())}, embedder: {}, conversationId: "c" }).catch((e) => { console.log(e.message); })`;
    const out = execFileSync(process.execPath, ["--no-experimental-require-module", "-r", "ts-node/register/transpile-only", "-e", script], {
      cwd: join(__dirname, "..", "..", ".."),
      encoding: "utf8",
    });
    expect(out.trim()).toBe(
      `long-term memory needs Node.js 20.19 or newer (vectra loads an ES module with require); this is ${process.version} — upgrade Node.js, or run the agent without long-term memory`,
    );
  });
});
