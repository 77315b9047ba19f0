// A malformed sherpa-onnx bundle can abort the whole process (the library calls exit()
// on bad tokens or metadata, even from async calls), so a bundle is first loaded and run
// once in a child process. Success is stamped next to the manifest (keyed by each file's
// size and mtime) so the check runs once per download, not at every start.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { downloadCommand, ModelBundle, ModelError } from "./manifest";

/** Runs in the child: build the recognizer/voice and run one tiny inference. */
const CHILD = `
const [sherpaPath, kind, configJson] = process.argv.slice(1);
const sherpa = require(sherpaPath);
const config = JSON.parse(configJson);
if (kind === "stt") {
  const r = new sherpa.OfflineRecognizer(config);
  const s = r.createStream();
  s.acceptWaveform({ samples: new Float32Array(8000), sampleRate: 16000 });
  r.decode(s);
  r.getResult(s);
} else {
  const t = new sherpa.OfflineTts(config);
  t.generate({ text: "Test.", sid: 0, speed: 1 });
}
process.stdout.write("ok");
`;

function stampKey(bundle: ModelBundle): string {
  return Object.values(bundle.files)
    .map((f) => {
      const st = statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join("|");
}

function stampPath(bundle: ModelBundle): string {
  return join(bundle.dir, `.validated-${bundle.role}-${bundle.name.replace(/[^\w.-]/g, "_")}`);
}

/**
 * Loads `config` (an OfflineRecognizer or OfflineTts config for `bundle`) in a child
 * process first; throws a ModelError naming the bundle if the child dies or errs.
 */
export async function validateInChildProcess(
  bundle: ModelBundle,
  kind: "stt" | "tts",
  config: object,
  timeoutMs = 120_000,
): Promise<void> {
  const stamp = stampPath(bundle);
  const key = stampKey(bundle);
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === key) return;

  const sherpaPath = require.resolve("sherpa-onnx-node");
  const child = spawn(process.execPath, ["-e", CHILD, sherpaPath, kind, JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err = (err + d).slice(-2000)));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on("close", (code, signal) => res({ code, signal })),
  );
  clearTimeout(timer);
  if (code !== 0 || out !== "ok") {
    const how = signal ? `was killed by ${signal}${signal === "SIGKILL" ? ` (no answer in ${timeoutMs / 1000} s)` : ""}` : `exited with ${code}`;
    const detail = err.trim().split("\n").slice(-3).join(" / ");
    throw new ModelError(
      `${bundle.role} model ${bundle.name} in ${bundle.dir} does not load: a test load ${how}` +
        `${detail ? `: ${detail}` : ""} — re-download it: ${downloadCommand(bundle.dir)}`,
    );
  }
  try {
    writeFileSync(stamp, key);
  } catch {
    // A read-only model directory (installed by root) only means the check runs again next start.
  }
}
