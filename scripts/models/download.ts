// Fetches the catalog's models into a model directory: resumable (HTTP Range on a
// `.part` file), sha256-checked, with a progress bar, and a manifest of what is where.
// A re-run with everything present touches nothing. Every failure names the file, the
// problem and the fix; a partial download is kept so the next run resumes it.
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { copyFile, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  downloadCommand,
  ManifestEntry,
  MANIFEST_NAME,
  ModelManifest,
  ModelRole,
  readManifest,
  upsertManifestEntry,
} from "../../agent/src/models/manifest";
import type { CatalogFile, CatalogModel } from "./catalog";

export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface DownloadOptions {
  dir: string;
  /** Only these roles (default: all). */
  only?: ModelRole[];
  /** Where the progress bar and notes go (default: stderr). */
  progress?: ProgressSink;
  /** Give up on a connection that sends nothing for this long (default 60 s). */
  idleTimeoutMs?: number;
}

export interface DownloadReport {
  /** "role/name: file" for each file fetched or copied this run. */
  fetched: string[];
  /** Models that were already complete. */
  present: string[];
  /** Models whose files had no pinned checksum (hash recorded on first download). */
  unverified: string[];
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

const MB = 1024 * 1024;
function mb(n: number): string {
  return `${(n / MB).toFixed(1)} MB`;
}

/** The user's words for what went wrong writing `path`. */
function writeProblem(e: NodeJS.ErrnoException, path: string, dir: string): DownloadError {
  switch (e.code) {
    case "ENOSPC":
    case "EDQUOT":
      return new DownloadError(
        `disk full while writing ${path} — free some space on the disk holding ${dir} (or pick another with --dir) and run the command again; the partial download is kept and resumes`,
      );
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new DownloadError(
        `cannot write ${path}: permission denied (${e.code}) — make ${dir} writable for this user (e.g. sudo chown -R "$USER" '${dir}') or choose another directory with --dir`,
      );
    default:
      return new DownloadError(`cannot write ${path}: ${e.message}`);
  }
}

class ProgressBar {
  private lastDraw = 0;
  private readonly started = Date.now();

  constructor(private readonly sink: ProgressSink, private readonly label: string, private readonly total: number | undefined, private done: number) {
    if (!sink.isTTY) sink.write(`${label}: downloading${total ? ` ${mb(total)}` : ""}${done ? ` (resuming at ${mb(done)})` : ""}\n`);
  }

  advance(bytes: number): void {
    this.done += bytes;
    const now = Date.now();
    if (this.sink.isTTY && now - this.lastDraw > 100) {
      this.lastDraw = now;
      this.draw();
    }
  }

  private draw(): void {
    const rate = this.done / Math.max(0.001, (Date.now() - this.started) / 1000);
    if (this.total) {
      const f = Math.min(1, this.done / this.total);
      const bar = "#".repeat(Math.round(f * 24)).padEnd(24, "-");
      this.sink.write(`\r${this.label} [${bar}] ${(f * 100).toFixed(0).padStart(3)}% ${mb(this.done)}/${mb(this.total)} ${mb(rate)}/s `);
    } else {
      this.sink.write(`\r${this.label} ${mb(this.done)} ${mb(rate)}/s `);
    }
  }

  finish(): void {
    if (this.sink.isTTY) {
      this.draw();
      this.sink.write("\n");
    } else {
      this.sink.write(`${this.label}: done, ${mb(this.done)}\n`);
    }
  }
}

/** Copies a file that ships inside an installed npm package ("npm:<pkg>/<path>"). */
async function copyFromPackage(file: CatalogFile, dest: string, dir: string): Promise<void> {
  const spec = file.url.slice("npm:".length);
  let src: string;
  try {
    src = require.resolve(spec);
  } catch {
    throw new DownloadError(`${file.path}: ${spec} is not installed — run npm ci (it is a dependency of the agent)`);
  }
  try {
    await copyFile(src, `${dest}.part`);
    await rename(`${dest}.part`, dest);
  } catch (e) {
    throw writeProblem(e as NodeJS.ErrnoException, dest, dir);
  }
}

/** Downloads `file.url` to `dest`, resuming `dest.part`; returns nothing, checks nothing. */
async function fetchResumable(file: CatalogFile, dest: string, dir: string, label: string, options: DownloadOptions): Promise<void> {
  const part = `${dest}.part`;
  const have = existsSync(part) ? (await stat(part)).size : 0;
  const idle = options.idleTimeoutMs ?? 60_000;
  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(), idle);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ac.abort(), idle);
  };
  const lost = (written: number, why: string) =>
    new DownloadError(`download of ${file.path} from ${file.url} stopped after ${mb(written)}: ${why} — run the command again to resume`);

  let res: Response;
  try {
    res = await fetch(file.url, { headers: have ? { Range: `bytes=${have}-` } : {}, signal: ac.signal, redirect: "follow" });
  } catch (e) {
    clearTimeout(timer);
    throw new DownloadError(
      `cannot reach ${file.url} for ${file.path}: ${ac.signal.aborted ? `no answer in ${idle / 1000} s` : ((e as Error & { cause?: Error }).cause?.message ?? (e as Error).message)} — check the network and run the command again`,
    );
  }

  let start = 0;
  let total = file.bytes;
  if (res.status === 206) {
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
    if (!m || Number(m[1]) !== have) {
      clearTimeout(timer);
      await res.body?.cancel();
      await rm(part, { force: true });
      throw new DownloadError(`${file.url} answered a resume with the wrong range (${res.headers.get("content-range")}); the partial file was removed — run the command again`);
    }
    start = have;
    if (m[2] !== "*") total = Number(m[2]);
  } else if (res.status === 416 && have > 0) {
    // The part is already whole (the last run died between download and rename).
    clearTimeout(timer);
    await res.body?.cancel();
    await rename(part, dest).catch((e) => Promise.reject(writeProblem(e, dest, dir)));
    return;
  } else if (res.status === 200) {
    const len = Number(res.headers.get("content-length"));
    if (len > 0) total = len;
  } else {
    clearTimeout(timer);
    await res.body?.cancel();
    throw new DownloadError(`download of ${file.path} failed: HTTP ${res.status} ${res.statusText} from ${file.url}`);
  }

  let fh;
  try {
    fh = await open(part, start > 0 ? "a" : "w");
  } catch (e) {
    clearTimeout(timer);
    await res.body?.cancel();
    throw writeProblem(e as NodeJS.ErrnoException, part, dir);
  }
  const bar = new ProgressBar(options.progress ?? process.stderr, label, total, start);
  let written = start;
  try {
    if (!res.body) throw lost(written, "empty response");
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      touch();
      try {
        await fh.write(chunk);
      } catch (e) {
        throw writeProblem(e as NodeJS.ErrnoException, part, dir);
      }
      written += chunk.length;
      bar.advance(chunk.length);
    }
  } catch (e) {
    if (e instanceof DownloadError) throw e;
    throw lost(written, ac.signal.aborted ? `no data for ${idle / 1000} s` : ((e as Error & { cause?: Error }).cause?.message ?? (e as Error).message));
  } finally {
    clearTimeout(timer);
    await fh.close().catch(() => undefined);
  }
  if (total !== undefined && written !== total) throw lost(written, `expected ${mb(total)}`);
  bar.finish();
  await rename(part, dest).catch((e) => Promise.reject(writeProblem(e, dest, dir)));
}

function currentManifest(dir: string): ModelManifest | undefined {
  if (!existsSync(join(dir, MANIFEST_NAME))) return undefined;
  try {
    return readManifest(dir);
  } catch {
    return undefined; // a damaged manifest is rebuilt from the files on disk
  }
}

/** Is `file` already in place, as the manifest recorded it and the catalog pins it? */
async function alreadyPresent(dir: string, model: CatalogModel, file: CatalogFile, manifest?: ModelManifest): Promise<boolean> {
  const dest = join(dir, file.path);
  if (!existsSync(dest)) return false;
  const recorded = manifest?.models.find((m) => m.role === model.role && m.name === model.name)?.files[file.key];
  const size = (await stat(dest)).size;
  if (recorded && recorded.path === file.path && recorded.bytes === size && (!file.sha256 || recorded.sha256 === file.sha256)) return true;
  // On disk but not recorded (copied by hand, or the manifest was lost): keep it if it is the pinned file.
  return file.sha256 !== undefined && (file.bytes === undefined || file.bytes === size) && (await sha256File(dest)) === file.sha256;
}

export async function downloadModels(catalog: CatalogModel[], options: DownloadOptions): Promise<DownloadReport> {
  const { dir } = options;
  const sink = options.progress ?? process.stderr;
  const report: DownloadReport = { fetched: [], present: [], unverified: [] };
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw writeProblem(e as NodeJS.ErrnoException, dir, dir);
  }
  const wanted = catalog.filter((m) => !options.only || options.only.includes(m.role));
  for (const model of wanted) {
    const manifest = currentManifest(dir);
    const files: ManifestEntry["files"] = {};
    let fetchedAny = false;
    for (const file of model.files) {
      const dest = join(dir, file.path);
      const label = `${model.role} ${model.name} ${file.path.split("/").pop()}`;
      const fetchedThis = !(await alreadyPresent(dir, model, file, manifest));
      if (fetchedThis) {
        try {
          await mkdir(dirname(dest), { recursive: true });
        } catch (e) {
          throw writeProblem(e as NodeJS.ErrnoException, dirname(dest), dir);
        }
        await rm(dest, { force: true }).catch(() => undefined);
        if (file.url.startsWith("npm:")) await copyFromPackage(file, dest, dir);
        else await fetchResumable(file, dest, dir, label, options);
        fetchedAny = true;
        report.fetched.push(`${model.role}/${model.name}: ${file.path}`);
      }
      const bytes = (await stat(dest)).size;
      const recorded = manifest?.models.find((m) => m.role === model.role && m.name === model.name)?.files[file.key];
      const sha256 = fetchedThis || !recorded || recorded.bytes !== bytes ? await sha256File(dest) : recorded.sha256;
      if (file.sha256 && sha256 !== file.sha256) {
        await rm(dest, { force: true });
        throw new DownloadError(
          `checksum mismatch for ${file.path} (from ${file.url}): got sha256 ${sha256}, expected ${file.sha256} — the download was damaged or the file changed upstream; it was removed, run the command again to fetch it afresh`,
        );
      }
      if (file.bytes !== undefined && bytes !== file.bytes) {
        await rm(dest, { force: true });
        throw new DownloadError(`size mismatch for ${file.path}: got ${bytes} bytes, expected ${file.bytes}; it was removed — run the command again`);
      }
      files[file.key] = { path: file.path, sha256, bytes };
    }
    if (!fetchedAny) report.present.push(`${model.role}/${model.name}`);
    if (model.unverified && fetchedAny) {
      report.unverified.push(`${model.role}/${model.name}`);
      sink.write(`note: ${model.role}/${model.name} is not checksum-verified (${model.unverified}); recorded the sha256 it has now in ${join(dir, MANIFEST_NAME)}\n`);
    }
    const source = model.files[0].url + (model.unverified ? " (sha256 recorded on first download, not pinned)" : "");
    const existing = manifest?.models.find((m) => m.role === model.role && m.name === model.name);
    const entry: ManifestEntry = { role: model.role, name: model.name, format: model.format, files, source, ...(model.sampleRate ? { sampleRate: model.sampleRate } : {}) };
    if (!existing || JSON.stringify(existing) !== JSON.stringify(entry)) upsertManifestEntry(dir, entry);
  }
  return report;
}

export interface VerifyReport {
  ok: string[];
  problems: string[];
}

/** Hashes every file the manifest lists; each problem names the file and the fix. */
export async function verifyModels(dir: string): Promise<VerifyReport> {
  const manifest = readManifest(dir);
  const report: VerifyReport = { ok: [], problems: [] };
  for (const m of manifest.models) {
    let good = true;
    for (const f of Object.values(m.files)) {
      const path = join(dir, f.path);
      if (!existsSync(path)) {
        report.problems.push(`${m.role}/${m.name}: ${path} is missing — run: ${downloadCommand(dir)}`);
        good = false;
        continue;
      }
      const got = await sha256File(path);
      if (got !== f.sha256) {
        report.problems.push(`${m.role}/${m.name}: ${path} is corrupt (sha256 ${got}, expected ${f.sha256}) — delete it and run: ${downloadCommand(dir)}`);
        good = false;
      }
    }
    if (good) report.ok.push(`${m.role}/${m.name}`);
  }
  return report;
}
