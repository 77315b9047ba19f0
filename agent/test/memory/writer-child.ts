/**
 * A process that keeps storing memories and prints `ack <n>` once memory n is on disk,
 * and `writing` / `written` around every index write, so the test can kill it mid-save.
 * argv: <dir> <first n> <atomic|stock> <prefill count>
 */
import { LocalFileStorage } from "vectra";
import { atomicFileStorageClass } from "../../src/twin/memory/atomic-file-storage";
import { LongTermMemory } from "../../src/twin/memory/long-term-memory";
import { HashEmbedder } from "./hash-embedder";

const [dir, first, mode, prefill] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);

function announced<T extends new (...args: any[]) => LocalFileStorage>(Base: T) {
  return class extends Base {
    async upsertFile(path: string, content: Buffer | string): Promise<void> {
      say("writing");
      await super.upsertFile(path, content);
      say("written");
    }
  };
}

(async () => {
  const storage = new (announced(mode === "stock" ? LocalFileStorage : atomicFileStorageClass()))();
  const memory = await LongTermMemory.open({ dir, embedder: new HashEmbedder(256), conversationId: "crash-test", storage, maxItems: 100_000 });
  if ((await memory.size()) === 0) {
    // Bulk so every save is a few MB and takes long enough to be killed in the middle.
    await Promise.all(Array.from({ length: Number(prefill) }, (_, i) => memory.remember(`background fact number ${i} about the garden`)));
  }
  say("ready");
  for (let n = Number(first); ; n++) {
    await memory.remember(`the user told me fact number ${n} today`);
    say(`ack ${n}`);
  }
})().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
