import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSpeechToText } from "../../src/services/stt";
import { createTextToSpeech } from "../../src/services/tts";
import { espeakDataDir, findBundle, ModelError, readManifest } from "../../src/models";
import { parseManifest } from "../../src/models/manifest";
import { ensureTinySpeechModels, TinySpeechModels } from "../../../scripts/models/tiny-speech";
import { spokenPcm } from "../speech/audio";

let models: TinySpeechModels;
const scratch = mkdtempSync(join(tmpdir(), "aide-models-"));

/** A private copy of the generated model directory that a test may damage. */
function copyOfModels(name: string): string {
  const dir = join(scratch, name);
  cpSync(models.dir, dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.startsWith(".validated")) rmSync(join(dir, f));
  return dir;
}

beforeAll(async () => {
  models = await ensureTinySpeechModels();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the model directory", () => {
  it("lists the generated speech models with sizes and checksums", () => {
    const m = readManifest(models.dir);
    expect(m.models.map((e) => `${e.role}:${e.format}`)).toEqual(["stt:sherpa-nemo-ctc", "tts:piper-vits", "stt:sherpa-moonshine"]);
    for (const e of m.models) for (const f of Object.values(e.files)) expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(findBundle(models.dir, "stt").files.model).toBe(models.stt.model);
  });

  it("says which command fills an empty directory", () => {
    const empty = join(scratch, "empty");
    expect(() => findBundle(empty, "stt")).toThrow(ModelError);
    expect(() => findBundle(empty, "stt")).toThrow(`model directory ${empty}: no manifest.json — run: npm run models -- download --dir '${empty}'`);
  });

  it("quotes the fixing command so a hostile directory name stays one argument", () => {
    const odd = join(scratch, "it's $(touch pwned) `x` dir");
    let message = "";
    try {
      findBundle(odd, "stt");
    } catch (e) {
      message = (e as Error).message;
    }
    const command = message.slice(message.indexOf("run: ") + 5);
    // Run the printed command's --dir argument through a real shell: it must come back verbatim.
    const dirArg = command.slice(command.indexOf("--dir ") + 6);
    expect(execFileSync("sh", ["-c", `printf %s ${dirArg}`], { cwd: scratch, encoding: "utf8" })).toBe(odd);
    expect(existsSync(join(scratch, "pwned"))).toBe(false);
  });

  it("names the missing file of a model", () => {
    const dir = copyOfModels("missing-file");
    rmSync(join(dir, "stt/tiny-fixed-phrase-ctc/tokens.txt"));
    expect(() => findBundle(dir, "stt")).toThrow(/missing stt model tiny-fixed-phrase-ctc: .*stt\/tiny-fixed-phrase-ctc\/tokens.txt not found — run: npm run models -- download/);
    expect(() => findBundle(dir, "llm")).toThrow(/missing llm model \(the manifest lists none\)/);
  });

  it("calls a truncated file corrupt", () => {
    const dir = copyOfModels("truncated");
    writeFileSync(join(dir, "tts/tiny-tone-piper/model.onnx"), "short");
    expect(() => findBundle(dir, "tts")).toThrow(/corrupt tts model tiny-tone-piper: .*model.onnx is 5 bytes, expected \d+/);
  });

  it("lists every problem of a malformed manifest at once", () => {
    expect(() => parseManifest("{", "m.json")).toThrow(/m.json: not valid JSON/);
    const bad = JSON.stringify({
      version: 2,
      models: [
        { role: "brain", name: "x", format: "gguf", files: { model: { path: "a", sha256: "b", bytes: 1 } } },
        { role: "stt", name: "y", format: "sherpa-nemo-ctc", files: { model: { path: "../../etc/passwd", sha256: "b", bytes: 1 } } },
      ],
    });
    let message = "";
    try {
      parseManifest(bad, "m.json");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/version must be 1/);
    expect(message).toMatch(/models\[0\] \(x\)\.role/);
    expect(message).toMatch(/models\[1\] \(y\)\.files\.tokens: \{ path, sha256, bytes \} is required/);
    expect(message).toMatch(/models\[1\] \(y\)\.files\.model\.path: must stay inside the model directory/);
  });
});

describe("loading a damaged speech model", () => {
  // sherpa-onnx calls exit() on a bad tokens file; the test load in a child process
  // turns that into an error here instead of killing the agent (and this test run).
  it("refuses a recognizer whose tokens file is garbage, and the process survives", async () => {
    const dir = copyOfModels("bad-stt");
    // Same size as the original so the size check passes and only a real load finds it.
    const tokens = join(dir, "stt/tiny-fixed-phrase-ctc/tokens.txt");
    const original = readManifest(dir).models[0].files.tokens.bytes;
    writeFileSync(tokens, "x".repeat(original));
    await expect(createSpeechToText({ modelDir: dir })).rejects.toThrow(
      /stt model tiny-fixed-phrase-ctc in .* does not load: a test load exited with .* — re-download it: npm run models -- download/,
    );
    expect(existsSync(join(dir, ".validated-stt-tiny-fixed-phrase-ctc"))).toBe(false);
  });

  it("refuses a voice without the pad/start/end symbols Piper needs", async () => {
    const dir = copyOfModels("bad-tts");
    const tokens = join(dir, "tts/tiny-tone-piper/tokens.txt");
    const original = readManifest(dir).models[1].files.tokens.bytes;
    writeFileSync(tokens, ("a 1\n".repeat(original / 4 + 1)).slice(0, original));
    await expect(createTextToSpeech({ voice: "piper", piper: { modelDir: dir } })).rejects.toThrow(/tts model tiny-tone-piper .* does not load/);
  });

  it("falls back to espeak-ng, saying why, when the downloaded voice is damaged", async () => {
    const dir = copyOfModels("bad-tts-auto");
    const tokens = join(dir, "tts/tiny-tone-piper/tokens.txt");
    writeFileSync(tokens, "x".repeat(readManifest(dir).models[1].files.tokens.bytes));
    const reasons: string[] = [];
    const tts = await createTextToSpeech({ piper: { modelDir: dir }, onFallback: (r) => reasons.push(r) });
    expect(tts.name).toMatch(/^espeak-ng/);
    expect(reasons[0]).toMatch(/tts model tiny-tone-piper .* does not load.*speaking with espeak-ng instead/);
  });

  it("names the espeak-ng data it could not find and how to install it", () => {
    expect(() => espeakDataDir({ AIDE_ESPEAK_DATA: "/nonexistent/espeak-ng-data" })).toThrow(
      "espeak-ng data not found (looked in /nonexistent/espeak-ng-data) — install it: apt-get install espeak-ng-data, or fix AIDE_ESPEAK_DATA",
    );
    expect(espeakDataDir({})).toMatch(/espeak-ng-data$/);
  });

  it("checks a good bundle once, then loads it without the child process", async () => {
    const dir = copyOfModels("good");
    const first = Date.now();
    const stt = await createSpeechToText({ modelDir: dir, numThreads: 1 });
    const firstMs = Date.now() - first;
    expect(existsSync(join(dir, ".validated-stt-tiny-fixed-phrase-ctc"))).toBe(true);
    const second = Date.now();
    await createSpeechToText({ modelDir: dir, numThreads: 1 });
    expect(Date.now() - second).toBeLessThan(firstMs);
    expect((await stt.transcribe(spokenPcm("hello"), 16000)).text).toBe(models.phrase);
  });
});
