// espeak-ng's data directory: the espeak-ng voice and sherpa-onnx's Piper phonemizer both
// need it. Debian's espeak-ng-data package puts it under the multiarch lib directory.
import { existsSync } from "node:fs";
import { ModelError } from "./manifest";

const CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/espeak-ng-data",
  "/usr/lib/i386-linux-gnu/espeak-ng-data",
  "/usr/lib/aarch64-linux-gnu/espeak-ng-data",
  "/usr/share/espeak-ng-data",
];

export function espeakDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const wanted = env.AIDE_ESPEAK_DATA ? [env.AIDE_ESPEAK_DATA] : CANDIDATES;
  const found = wanted.find((d) => existsSync(`${d}/phontab`));
  if (!found) {
    throw new ModelError(
      `espeak-ng data not found (looked in ${wanted.join(", ")}) — install it: apt-get install espeak-ng-data` +
        (env.AIDE_ESPEAK_DATA ? ", or fix AIDE_ESPEAK_DATA" : ""),
    );
  }
  return found;
}
