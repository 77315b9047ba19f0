/**
 * Long-term memory: the user's statements worth keeping, in a vectra LocalIndex on disk,
 * recalled by embedding similarity at the start of each turn.
 *
 * - Crash-safe: saves go through AtomicFileStorage (temp + fsync + rename), so a kill
 *   at any moment leaves the previous or the new index, never a torn one.
 * - Cheap on the turn's critical path: recall is one embedding + a scan; storing runs
 *   after the turn, in the background, batched into one save (beginUpdate/endUpdate).
 * - Bounded: past `maxItems` the least recalled, then oldest, memories go first, so an
 *   8 GB node never fills up.
 * - No repeats: a statement already stored (the same words, case and punctuation aside)
 *   is not stored again, and a recalled memory whose words another recalled one contains
 *   is left out: on a Core 2 every word in the prompt costs a tenth of a second.
 * - A corrupt index is moved aside (`<dir>.corrupt-<time>`) with a warning and a fresh
 *   one started: the agent keeps working and nothing is silently deleted.
 * - A save that fails (a full disk, the embeddings server down) costs the turn nothing:
 *   what is stored stays (the old file is only ever replaced by a complete new one), the
 *   new memories wait in RAM (at most `maxWaiting`), the failure is logged once, and
 *   saving is retried every `retryMs` until it works, which is logged once too.
 */
import { promises as fs } from "node:fs";
import { randomUUID } from "node:crypto";
import type { FileStorage, LocalIndex } from "vectra";
import type { MemoryStore } from "../twin-service";
import { atomicFileStorage, loadVectra, removeStaleTemps } from "./atomic-file-storage";
import type { Embedder } from "./embedder";

export interface LongTermMemoryOptions {
  /** Folder of the index (one per user/agent). */
  dir: string;
  embedder: Embedder;
  /** Stored with each memory (per session: see `forConversation`). */
  conversationId: string;
  /** Memories recalled per turn (default 3). */
  topK?: number;
  /** Cosine similarity below which a memory is not recalled (default 0.5). */
  minScore?: number;
  /**
   * Most memories kept (default 2000). Every save rewrites the whole index: 2000 memories
   * of 384 dimensions are ~8 MB of JSON, a fraction of a second in the background on a
   * Core 2; measured with `npm run bench:turns`.
   */
  maxItems?: number;
  log?: (line: string) => void;
  /** For tests: vectra's storage to use (default: AtomicFileStorage). */
  storage?: FileStorage;
  /** After a failed save, retry this often (default 30 s). */
  retryMs?: number;
  /** New memories held in RAM while saving fails; the oldest go past it (default 200). */
  maxWaiting?: number;
}

type MemoryMetadata = {
  text: string;
  at: number;
  conversationId: string;
  recalls: number;
  lastUsed: number;
};

const FILLER = new Set([
  "ok", "okay", "yes", "yeah", "yep", "no", "nope", "sure", "right", "fine", "thanks", "thank you", "thanks a lot",
  "hmm", "hm", "uh", "um", "ah", "oh", "hello", "hi", "hey", "bye", "goodbye", "good night", "good morning", "cool",
  "great", "nice", "alright", "all right", "got it", "i see", "go on", "stop", "wait",
]);
const QUESTION_START = /^(what|who|whom|whose|where|when|why|how|which|can|could|would|will|should|shall|do|does|did|is|are|am|was|were|have|has|may|might)\b/i;

/** A statement about the user or the world; not filler ("ok"), not a question. */
export function isWorthKeeping(text: string): boolean {
  const plain = plainWords(text);
  if (!plain || FILLER.has(plain)) return false;
  if (plain.split(" ").length < 3) return false;
  if (/\?\s*$/.test(text) || QUESTION_START.test(plain)) return false;
  return true;
}

export class LongTermMemory implements MemoryStore {
  private chain: Promise<void> = Promise.resolve();
  private readonly queued: { text: string; conversationId: string }[] = [];
  private readonly recalled = new Map<string, number>();
  /** Why saving fails, from the first failure until a save works again. */
  private failing: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly log: (line: string) => void;

  private constructor(private index: LocalIndex<MemoryMetadata>, private readonly options: LongTermMemoryOptions) {
    this.log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  }

  static async open(options: LongTermMemoryOptions): Promise<LongTermMemory> {
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    await privateFolder(options.dir);
    await removeStaleTemps(options.dir);
    const { LocalIndex: Index } = loadVectra(); // loaded on first use: see atomic-file-storage.ts
    const newIndex = () => new Index<MemoryMetadata>(options.dir, undefined, options.storage ?? atomicFileStorage());
    let index = newIndex();
    if (await index.isIndexCreated()) {
      const problem = await validate(index);
      if (problem) {
        const aside = `${options.dir}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        await fs.rename(options.dir, aside);
        log(`long-term memory: the index in ${options.dir} is unreadable (${problem}); moved it to ${aside} and started a fresh one — the old file is kept there for recovery`);
        await privateFolder(options.dir);
        index = newIndex();
      }
    }
    if (!(await index.isIndexCreated())) await index.createIndex({ version: 1 });
    return new LongTermMemory(index, options);
  }

  async recall(text: string): Promise<string[]> {
    const [vector] = await this.options.embedder.embed([text]);
    const topK = this.options.topK ?? 3;
    // More than topK asked for: restatements of one memory are left out below.
    const results = (await this.index.queryItems(vector, text, topK * 3)).filter((r) => r.score >= (this.options.minScore ?? 0.5));
    const words = results.map((r) => ` ${plainWords(r.item.metadata.text)} `);
    const kept = results.filter((_, i) => !words.some((w, j) => j !== i && w.includes(words[i]) && (w !== words[i] || j < i))).slice(0, topK);
    const now = Date.now();
    // Recall counts are saved with the next batch, not now: recall is on the critical path.
    for (const r of kept) this.recalled.set(r.item.id, now);
    return kept.map((r) => r.item.metadata.text);
  }

  /** Queues `text` if worth keeping; resolves once it is on disk (rejects if that save failed). */
  remember(text: string, conversationId = this.options.conversationId): Promise<void> {
    if (!isWorthKeeping(text)) return Promise.resolve();
    this.queued.push({ text: text.trim(), conversationId });
    this.trimWaiting();
    return this.saveInTurn();
  }

  /** One save after those already queued; its failure is reported once per streak and retried. */
  private saveInTurn(): Promise<void> {
    const saved = this.chain.then(() => this.save());
    this.chain = saved.then(() => this.recovered(), (error: unknown) => this.failed(error));
    return saved;
  }

  private failed(error: unknown): void {
    const why = error instanceof Error ? error.message : String(error);
    if (this.failing === undefined) {
      const full = /ENOSPC|no space left/i.test(why) ? ` — the disk holding ${this.options.dir} is full: free some space there` : "";
      this.log(`long-term memory: could not save (${why})${full}; what is stored stays, new memories wait in RAM (${this.queued.length} now), and saving is retried every ${Math.round((this.options.retryMs ?? 30_000) / 1000)} s`);
    }
    this.failing = why;
    this.trimWaiting();
    if (!this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.queued.length || this.recalled.size) void this.saveInTurn().catch(() => undefined);
      }, this.options.retryMs ?? 30_000);
      this.retryTimer.unref();
    }
  }

  /** While saving fails, the newest `maxWaiting` memories wait; older ones go. (A burst while saves work is fine.) */
  private trimWaiting(): void {
    if (this.failing === undefined) return;
    const maxWaiting = this.options.maxWaiting ?? 200;
    if (this.queued.length > maxWaiting) this.queued.splice(0, this.queued.length - maxWaiting);
  }

  private recovered(): void {
    if (this.failing === undefined) return;
    this.failing = undefined;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.log("long-term memory: saving again; the memories that waited are stored");
  }

  flush(): Promise<void> {
    return this.chain;
  }

  /**
   * The same memory for one conversation (one per session). Sessions of one agent must
   * share one LongTermMemory: two LocalIndex objects on one folder would each save their
   * own copy and the last save would drop the other's memories.
   */
  forConversation(conversationId: string): MemoryStore {
    return {
      recall: (text) => this.recall(text),
      remember: (text) => this.remember(text, conversationId),
      flush: () => this.flush(),
    };
  }

  async size(): Promise<number> {
    return (await this.index.getIndexStats()).items;
  }

  async all(): Promise<MemoryMetadata[]> {
    return (await this.index.listItems()).map((item) => item.metadata);
  }

  /** Stores what is queued (one save for all of it), applies recall counts, enforces the cap. */
  private async save(): Promise<void> {
    const taken = this.queued.splice(0);
    const recalled = new Map(this.recalled);
    this.recalled.clear();
    // Said before (or twice in this batch): kept once, its time refreshed.
    const stored = new Map((await this.index.listItems()).map((item) => [plainWords(item.metadata.text), item.id]));
    const repeats = new Set<string>();
    const fresh = new Set<string>();
    const queued: typeof taken = [];
    for (const q of taken) {
      const key = plainWords(q.text);
      const before = stored.get(key);
      if (before !== undefined) repeats.add(before);
      else if (!fresh.has(key)) {
        fresh.add(key);
        queued.push(q);
      }
    }
    const texts = queued.map((q) => q.text);
    if (!texts.length && !recalled.size && !repeats.size) return;
    let updating = false;
    try {
      const vectors = await this.options.embedder.embed(texts);
      const now = Date.now();
      const evict = await this.overCap(texts.length, recalled);
      await this.index.beginUpdate();
      updating = true;
      // One update per memory: getItem reads the saved index, so a second upsert of the
      // same id in this batch would drop the first (a memory recalled and said again).
      for (const id of new Set([...recalled.keys(), ...repeats])) {
        const item = await this.index.getItem(id);
        if (!item) continue;
        const when = recalled.get(id);
        const metadata = when === undefined ? item.metadata : { ...item.metadata, recalls: item.metadata.recalls + 1, lastUsed: when };
        await this.index.upsertItem({ ...item, metadata: repeats.has(id) ? { ...metadata, at: now, lastUsed: Math.max(now, metadata.lastUsed) } : metadata });
      }
      for (const [i, { text, conversationId }] of queued.entries()) {
        await this.index.insertItem({
          id: randomUUID(),
          // 6 decimals keep cosine similarity to ~1e-6 and halve the JSON written per save.
          vector: vectors[i].map((x) => Math.round(x * 1e6) / 1e6),
          metadata: { text, at: now, conversationId, recalls: 0, lastUsed: now },
        });
      }
      await this.index.deleteItems(evict);
      await this.index.endUpdate();
    } catch (error) {
      if (updating) this.index.cancelUpdate();
      // Kept for the next save: an embedding server that is down for a moment loses nothing.
      this.queued.unshift(...taken);
      throw error;
    }
  }

  /** Which stored memories make room for `adding` new ones: least recalled first, then oldest (never the new ones). */
  private async overCap(adding: number, recalled: Map<string, number>): Promise<string[]> {
    const items = await this.index.listItems();
    const excess = items.length + adding - (this.options.maxItems ?? 2000);
    if (excess <= 0) return [];
    const score = (item: (typeof items)[number]) => ({
      recalls: item.metadata.recalls + (recalled.has(item.id) ? 1 : 0),
      lastUsed: recalled.get(item.id) ?? item.metadata.lastUsed,
    });
    return items
      .map((item) => ({ id: item.id, ...score(item) }))
      .sort((a, b) => a.recalls - b.recalls || a.lastUsed - b.lastUsed)
      .slice(0, excess)
      .map((item) => item.id);
  }
}

/** A memory's words as compared for repeats: lower case, no punctuation, single spaces. */
function plainWords(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}' ]+/gu, " ").replace(/\s+/g, " ").trim();
}

/** Why the index cannot be used, or undefined when it loads and has the expected shape. */
async function validate(index: LocalIndex<MemoryMetadata>): Promise<string | undefined> {
  try {
    const items = await index.listItems();
    const bad = items.find((item) => !Array.isArray(item.vector) || typeof item.metadata?.text !== "string");
    return bad ? `item ${bad.id} has no vector or text` : undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** What the household said is the agent's user's alone: the folder 0700 (files are 0600, atomic-file-storage.ts). */
async function privateFolder(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700); // a folder made by an older Aide was 0755
}
