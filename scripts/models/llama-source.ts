// Files from the llama.cpp source that node-llama-cpp ships as a git bundle (the same
// source scripts/build-llama.sh builds): real vocabularies (models/ggml-vocab-*.gguf)
// and chat templates (models/templates/*.jinja) for the stand-in models. The bundle is
// cloned bare once into $AIDE_CACHE/llama-src/<commit>.git (~35 MB) and each file is
// read out of it once into $AIDE_CACHE/llama-src/<commit>/<path>.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { aideCache } from "../../lib/cache";

const BUNDLE = resolve(__dirname, "..", "..", "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");

let commit: string | undefined;

/** The llama.cpp commit the bundle holds (its first head). */
export function llamaSourceCommit(): string {
  if (commit) return commit;
  if (!existsSync(BUNDLE)) {
    throw new Error(`llama.cpp source bundle not found at ${BUNDLE} — run 'npm ci' (node-llama-cpp ships it)`);
  }
  const heads = execFileSync("git", ["bundle", "list-heads", BUNDLE], { encoding: "utf8" });
  const sha = /^([0-9a-f]{40})\s/m.exec(heads)?.[1];
  if (!sha) throw new Error(`${BUNDLE} lists no heads — it is not a git bundle; reinstall node-llama-cpp with 'npm ci'`);
  commit = sha;
  return sha;
}

function bareClone(sha: string): string {
  const gitDir = aideCache("llama-src", `${sha.slice(0, 12)}.git`);
  if (existsSync(join(gitDir, "HEAD"))) return gitDir;
  mkdirSync(dirname(gitDir), { recursive: true });
  const tmp = `${gitDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  execFileSync("git", ["clone", "--bare", "--quiet", BUNDLE, tmp], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    renameSync(tmp, gitDir);
  } catch (e) {
    // Another process cloned it first: theirs is as good as ours.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(gitDir, "HEAD"))) throw e;
  }
  return gitDir;
}

/** The path of a file from the llama.cpp source (relative to its root), extracted once. */
export function llamaSourceFile(relPath: string): string {
  const sha = llamaSourceCommit();
  const out = aideCache("llama-src", sha.slice(0, 12), relPath);
  if (existsSync(out)) return out;
  const gitDir = bareClone(sha);
  let data: Buffer;
  try {
    data = execFileSync("git", ["--git-dir", gitDir, "cat-file", "blob", `${sha}:${relPath}`], {
      maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "pipe"],
    });
  } catch {
    throw new Error(`llama.cpp source ${sha.slice(0, 12)} has no file ${relPath} — the bundled llama.cpp changed; pick a file that exists (git --git-dir ${gitDir} ls-tree -r --name-only HEAD models/)`);
  }
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, out);
  return out;
}
