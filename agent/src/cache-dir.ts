// Where Aide keeps what it builds, downloads or learns outside the repository — llama.cpp
// builds, downloaded and generated models, long-term memory, the household's certificates:
// $AIDE_CACHE, default ~/.cache/aide. The agent, npm start, the scripts and the Pulumi
// program all ask here, so they always agree on the folder.
import { homedir } from "node:os";
import { join } from "node:path";

/** The cache folder: $AIDE_CACHE, else ~/.cache/aide. */
export function cacheFolder(env: NodeJS.ProcessEnv = process.env): string {
  return env.AIDE_CACHE || join(homedir(), ".cache", "aide");
}

/** `parts` under the cache folder. */
export function aideCache(...parts: string[]): string {
  return join(cacheFolder(), ...parts);
}
