/**
 * vectra's LocalFileStorage writes a file in place (`writeFile(path, data, { flag: "w" })`:
 * truncate, then write), so a process killed mid-save leaves a 0-byte or half index and
 * the whole memory is gone. This storage writes a temp file next to the target, fsyncs
 * it, renames it over the target (atomic on POSIX), then fsyncs the folder so the rename
 * itself survives a power cut. A kill at any instant leaves either the old or the new file.
 */
import { promises as fs } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { FileStorage, LocalFileStorage } from "vectra";

/** Leftovers of a save that was killed before its rename; safe to delete. */
export const TEMP_MARK = ".aide-tmp-";

let atomicClass: (new () => LocalFileStorage) | undefined;

/**
 * The storage class (vectra is loaded on first use: its uuid dependency is ESM-only, which
 * Node's require(esm) handles but jest's CommonJS runtime does not, so rooms that never
 * open a memory must not load it).
 */
export function atomicFileStorageClass(): new () => LocalFileStorage {
  if (!atomicClass) {
    const { LocalFileStorage: Base } = loadVectra();
    atomicClass = class AtomicFileStorage extends Base {
      async upsertFile(filePath: string, content: Buffer | string): Promise<void> {
        await writeFileAtomic(filePath, typeof content === "string" ? Buffer.from(content, "utf8") : content);
      }
    };
  }
  return atomicClass;
}

/** vectra, or an error that says why it cannot load here and what fixes it. */
export function loadVectra(): typeof import("vectra") {
  try {
    return require("vectra") as typeof import("vectra");
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_REQUIRE_ESM") {
      throw new Error(
        `long-term memory needs Node.js 20.19 or newer (vectra loads an ES module with require); this is ${process.version} — upgrade Node.js, or run the agent without long-term memory`,
      );
    }
    throw error;
  }
}

export function atomicFileStorage(): FileStorage {
  return new (atomicFileStorageClass())();
}

export async function writeFileAtomic(filePath: string, content: Buffer): Promise<void> {
  const dir = dirname(filePath);
  const temp = join(dir, `${basename(filePath)}${TEMP_MARK}${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  const handle = await fs.open(temp, "w", 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(temp, filePath);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncFolder(dir);
}

async function syncFolder(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Deletes temp files a killed save left behind in `dir`. */
export async function removeStaleTemps(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (name.includes(TEMP_MARK)) {
      await fs.rm(join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}
