// Where Aide keeps what it builds or generates outside the repo (llama.cpp builds,
// generated test models, downloaded models): $AIDE_CACHE, default ~/.cache/aide.
import { homedir } from "node:os";
import { join } from "node:path";

export function aideCache(...parts: string[]): string {
  return join(process.env.AIDE_CACHE || join(homedir(), ".cache", "aide"), ...parts);
}
