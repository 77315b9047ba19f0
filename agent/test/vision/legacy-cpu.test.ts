// The detector's model path runs on a Core 2 (no AVX, no SSE4.2): the loader, ONNX
// Runtime's kernels, the decoder and the observation text, all under
// `qemu-x86_64 -cpu core2duo`, which stops with SIGILL on any newer instruction.
// @needs qemu
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildSync } from "esbuild";
import { demoScene, writeYoloModel } from "../../../scripts/models/onnx/yolo";

const dir = mkdtempSync(join(tmpdir(), "aide-vision-qemu-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const repo = resolve(__dirname, "../../..");

it("names two people and a cup from a real inference on a Core 2 Duo CPU model", async () => {
  // 0.2 GFLOPs of convolutions: ONNX Runtime's conv kernels run too, yet qemu stays quick.
  const model = writeYoloModel(join(dir, "demo.onnx"), demoScene(320, 0.2));
  const script = join(dir, "infer.js");
  // The project's own loader and decoder, bundled to plain JS (ts-node under qemu would take minutes).
  buildSync({
    stdin: {
      contents: `
        import { loadYoloModel } from "./agent/src/vision/yolo-model";
        import { decodeYoloOutput } from "./agent/src/vision/detections";
        import { countObjects, observationText } from "./agent/src/vision/observation";
        (async () => {
          const model = await loadYoloModel(process.argv[2], { inputSize: 320, threads: 1 });
          const out = await model.run(new Float32Array(3 * 320 * 320).fill(0.5));
          console.log(observationText(countObjects(decodeYoloOutput(out.data, out.dims))));
          await model.close();
        })().catch((e) => { console.error(e); process.exit(1); });
      `,
      resolveDir: repo,
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    format: "cjs",
    external: ["onnxruntime-node"],
    nodePaths: [join(repo, "node_modules")],
    outfile: script,
    logLevel: "error",
  });
  writeFileSync(join(dir, "package.json"), "{}");

  const { stdout, stderr, code, signal } = await new Promise<{ stdout: string; stderr: string; code: number | null; signal: string | null }>((done) => {
    const child = execFile(
      "qemu-x86_64",
      ["-cpu", "core2duo", process.execPath, script, model],
      { timeout: 400000, env: { ...process.env, NODE_PATH: join(repo, "node_modules") } },
      (err, out, errOut) => done({ stdout: out, stderr: errOut, code: child.exitCode, signal: child.signalCode }),
    );
  });
  expect({ code, signal, stderr: stderr.split("\n").slice(-5).join("\n") }).toEqual({ code: 0, signal: null, stderr: "" });
  expect(stdout.trim()).toBe("Observation: I see two people and a cup.");
}, 420000);
