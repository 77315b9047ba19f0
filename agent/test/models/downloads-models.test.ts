// The model command against a local HTTP server serving generated files: nothing here
// reaches the internet. The server speaks Range like the real hosts, and can cut a
// response short, ignore Range, stall, or 404, so every failure path runs for real.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUNDLE_FILES, findBundle, MODEL_ROLES, readManifest } from "../../src/models/manifest";
import { CATALOG, CatalogModel } from "../../../scripts/models/catalog";
import { downloadModels, DownloadError, verifyModels } from "../../../scripts/models/download";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const FILES: Record<string, Buffer> = {
  "/voice/model.onnx": randomBytes(300_000),
  "/voice/tokens.txt": Buffer.from("_ 0\n^ 1\n$ 2\n"),
  "/llm/model.gguf": randomBytes(1_500_000),
};

interface Behaviour {
  cutAfter?: number; // send this many bytes of the next full response, then drop the connection
  ignoreRange?: boolean;
  stall?: boolean;
}
const behaviour: Record<string, Behaviour> = {};
const requests: { path: string; range?: string }[] = [];
let server: Server;
let base: string;
const work = mkdtempSync(join(tmpdir(), "aide-download-"));
const silent = { write: () => true, isTTY: false };

function serve(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? "";
  requests.push({ path, range: req.headers.range });
  const body = FILES[path];
  const b = behaviour[path] ?? {};
  if (!body) {
    res.writeHead(404).end("not found");
    return;
  }
  if (b.stall) {
    res.writeHead(200, { "content-length": body.length });
    res.write(body.subarray(0, 1000)); // a little, then silence
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  if (m && !b.ignoreRange) {
    const from = Number(m[1]);
    if (from >= body.length) {
      res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, { "content-range": `bytes ${from}-${body.length - 1}/${body.length}`, "content-length": body.length - from });
    res.end(body.subarray(from));
    return;
  }
  res.writeHead(200, { "content-length": body.length });
  if (b.cutAfter !== undefined) {
    const cut = b.cutAfter;
    delete b.cutAfter;
    res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 50));
    return;
  }
  res.end(body);
}

function catalog(overrides: Partial<Record<string, { sha256?: string }>> = {}): CatalogModel[] {
  const file = (key: string, p: string, dest: string) => ({ key, url: `${base}${p}`, path: dest, sha256: overrides[p]?.sha256 ?? sha(FILES[p]) });
  return [
    { role: "tts", name: "test-voice", format: "piper-vits", sampleRate: 22050, why: "test", files: [file("model", "/voice/model.onnx", "tts/test-voice/model.onnx"), file("tokens", "/voice/tokens.txt", "tts/test-voice/tokens.txt")] },
    { role: "llm", name: "test-llm", format: "gguf", why: "test", files: [file("model", "/llm/model.gguf", "llm/test.gguf")] },
    { role: "vad", name: "silero-vad-v5", format: "silero-vad", why: "test", files: [{ key: "model", url: "npm:@ricky0123/vad-web/dist/silero_vad_v5.onnx", path: "vad/silero_vad_v5.onnx" }] },
  ];
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected the download to fail");
}

beforeAll(async () => {
  server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(work, { recursive: true, force: true });
});
beforeEach(() => {
  requests.length = 0;
  for (const k of Object.keys(behaviour)) delete behaviour[k];
});

describe("npm run models -- download", () => {
  it("fetches every model, checks it, and writes a manifest the agent can load", async () => {
    const dir = join(work, "fresh");
    const lines: string[] = [];
    const report = await downloadModels(catalog(), { dir, progress: { write: (t: string) => lines.push(t), isTTY: false } });
    expect(report.fetched).toHaveLength(4);
    expect(readFileSync(join(dir, "llm/test.gguf")).equals(FILES["/llm/model.gguf"])).toBe(true);
    const m = readManifest(dir);
    expect(m.models.map((e) => `${e.role}/${e.name}`)).toEqual(["tts/test-voice", "llm/test-llm", "vad/silero-vad-v5"]);
    expect(m.models[1].files.model).toEqual({ path: "llm/test.gguf", sha256: sha(FILES["/llm/model.gguf"]), bytes: 1_500_000 });
    expect(findBundle(dir, "tts").files.tokens).toBe(join(dir, "tts/test-voice/tokens.txt"));
    // The VAD ships in an npm package: copied, never requested over HTTP.
    expect(requests.map((r) => r.path).sort()).toEqual(["/llm/model.gguf", "/voice/model.onnx", "/voice/tokens.txt"]);
    expect(lines.join("")).toMatch(/llm test-llm test.gguf: downloading 1.4 MB/);
    expect(lines.join("")).toMatch(/llm test-llm test.gguf: done, 1.4 MB/);
  });

  it("draws a progress bar on a terminal", async () => {
    let out = "";
    await downloadModels(catalog().slice(1, 2), { dir: join(work, "tty"), progress: { write: (t: string) => (out += t), isTTY: true } });
    expect(out).toMatch(/\rllm test-llm test.gguf \[#{24}\] 100% 1.4 MB\/1.4 MB .*MB\/s \n$/);
  });

  it("does nothing when everything is already present", async () => {
    const dir = join(work, "again");
    await downloadModels(catalog(), { dir, progress: silent });
    const manifestTime = statSync(join(dir, "manifest.json")).mtimeMs;
    requests.length = 0;
    const report = await downloadModels(catalog(), { dir, progress: silent });
    expect(report.fetched).toEqual([]);
    expect(report.present).toEqual(["tts/test-voice", "llm/test-llm", "vad/silero-vad-v5"]);
    expect(requests).toEqual([]);
    expect(statSync(join(dir, "manifest.json")).mtimeMs).toBe(manifestTime);
  });

  it("resumes an interrupted download where it stopped", async () => {
    const dir = join(work, "resume");
    behaviour["/llm/model.gguf"] = { cutAfter: 600_000 };
    const first = await failure(downloadModels(catalog(), { dir, progress: silent }));
    expect(first).toBeInstanceOf(DownloadError);
    expect(first.message).toMatch(/download of llm\/test.gguf from http:\/\/127.0.0.1:\d+\/llm\/model.gguf stopped after .* run the command again to resume/);
    const partSize = statSync(join(dir, "llm/test.gguf.part")).size;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThan(1_500_000);

    requests.length = 0;
    await downloadModels(catalog(), { dir, progress: silent });
    expect(requests.find((r) => r.path === "/llm/model.gguf")?.range).toBe(`bytes=${partSize}-`);
    expect(readFileSync(join(dir, "llm/test.gguf")).equals(FILES["/llm/model.gguf"])).toBe(true);
    expect(existsSync(join(dir, "llm/test.gguf.part"))).toBe(false);
  });

  it("starts over cleanly when the server ignores the resume request", async () => {
    const dir = join(work, "no-range");
    mkdirSync(join(dir, "llm"), { recursive: true });
    writeFileSync(join(dir, "llm/test.gguf.part"), FILES["/llm/model.gguf"].subarray(0, 1000));
    behaviour["/llm/model.gguf"] = { ignoreRange: true };
    await downloadModels(catalog().slice(1, 2), { dir, progress: silent });
    expect(readFileSync(join(dir, "llm/test.gguf")).equals(FILES["/llm/model.gguf"])).toBe(true);
  });

  it("finishes a download that was complete but never renamed (the server answers 416)", async () => {
    const dir = join(work, "complete-part");
    mkdirSync(join(dir, "llm"), { recursive: true });
    writeFileSync(join(dir, "llm/test.gguf.part"), FILES["/llm/model.gguf"]);
    await downloadModels(catalog().slice(1, 2), { dir, progress: silent });
    expect(requests.map((r) => r.range)).toEqual(["bytes=1500000-"]);
    expect(readFileSync(join(dir, "llm/test.gguf")).equals(FILES["/llm/model.gguf"])).toBe(true);
  });

  it("rejects a file whose checksum does not match, names it, and removes it", async () => {
    const dir = join(work, "mismatch");
    const wrong = "0".repeat(64);
    const e = await failure(downloadModels(catalog({ "/voice/model.onnx": { sha256: wrong } }), { dir, progress: silent }));
    expect(e.message).toMatch(
      new RegExp(`checksum mismatch for tts/test-voice/model.onnx \\(from ${base}/voice/model.onnx\\): got sha256 ${sha(FILES["/voice/model.onnx"])}, expected ${wrong} — .*run the command again`),
    );
    expect(existsSync(join(dir, "tts/test-voice/model.onnx"))).toBe(false);
    expect(existsSync(join(dir, "manifest.json"))).toBe(false);
  });

  it("names the file and URL of a download that is not there", async () => {
    const models = catalog().slice(1, 2);
    models[0].files[0].url = `${base}/llm/missing.gguf`;
    const e = await failure(downloadModels(models, { dir: join(work, "404"), progress: silent }));
    expect(e.message).toBe(`download of llm/test.gguf failed: HTTP 404 Not Found from ${base}/llm/missing.gguf`);
  });

  it("gives up on a stalled connection with a resumable error", async () => {
    behaviour["/llm/model.gguf"] = { stall: true };
    const e = await failure(downloadModels(catalog().slice(1, 2), { dir: join(work, "stall"), progress: silent, idleTimeoutMs: 300 }));
    expect(e.message).toMatch(/stopped after 0.0 MB: no data for 0.3 s — run the command again to resume/);
  });

  it("reports a full disk, keeping what it has", async () => {
    const dir = join(work, "full");
    mkdirSync(join(dir, "llm"), { recursive: true });
    // Writes through this link fail with ENOSPC from the kernel, as on a full disk.
    symlinkSync("/dev/full", join(dir, "llm/test.gguf.part"));
    const e = await failure(downloadModels(catalog().slice(1, 2), { dir, progress: silent }));
    expect(e.message).toMatch(new RegExp(`disk full while writing ${dir}/llm/test.gguf.part — free some space .* --dir.* resumes`));
  });

  it("reports a directory it may not write, with the fix", async () => {
    const dir = join(work, "locked");
    mkdirSync(dir);
    const root = process.getuid?.() === 0;
    // root ignores mode bits; the immutable attribute stops even root.
    if (root) await new Promise((r, j) => execFile("chattr", ["+i", dir], (err) => (err ? j(err) : r(null))));
    else chmodSync(dir, 0o555);
    try {
      const e = await failure(downloadModels(catalog().slice(1, 2), { dir, progress: silent }));
      expect(e.message).toMatch(new RegExp(`cannot write ${dir}/llm: permission denied \\((EACCES|EPERM)\\) — make ${dir} writable .*--dir`));
    } finally {
      if (root) await new Promise((r) => execFile("chattr", ["-i", dir], r));
      else chmodSync(dir, 0o755);
    }
  });

  it("finds damage afterwards and names the file and the fixing command", async () => {
    const dir = join(work, "verify");
    await downloadModels(catalog(), { dir, progress: silent });
    expect((await verifyModels(dir)).problems).toEqual([]);
    const gguf = join(dir, "llm/test.gguf");
    const bytes = readFileSync(gguf);
    bytes[1000] ^= 0xff;
    writeFileSync(gguf, bytes);
    rmSync(join(dir, "tts/test-voice/tokens.txt"));
    const r = await verifyModels(dir);
    expect(r.ok).toEqual(["vad/silero-vad-v5"]);
    expect(r.problems[0]).toMatch(new RegExp(`tts/test-voice: ${dir}/tts/test-voice/tokens.txt is missing — run: npm run models -- download --dir '${dir}'`));
    expect(r.problems[1]).toMatch(new RegExp(`llm/test-llm: ${dir}/llm/test.gguf is corrupt \\(sha256 [0-9a-f]{64}, expected ${sha(FILES["/llm/model.gguf"])}\\) — delete it and run: npm run models`));
    // A re-run repairs what is missing (a size-preserving corruption needs the delete verify asks for).
    await downloadModels(catalog(), { dir, progress: silent });
    expect(existsSync(join(dir, "tts/test-voice/tokens.txt"))).toBe(true);
  });

  it("works as the npm command, and a second run says there is nothing to do", async () => {
    const dir = join(work, "cli");
    const catalogFile = join(work, "catalog.json");
    writeFileSync(catalogFile, JSON.stringify(catalog().slice(0, 2)));
    const cli = resolve(__dirname, "../../../scripts/models/cli.ts");
    const run = (args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((r) =>
        execFile(process.execPath, ["-r", "ts-node/register/transpile-only", cli, ...args], { timeout: 60_000, cwd: resolve(__dirname, "../../..") }, (e, out, err) =>
          r({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
        ),
      );
    const first = await run(["download", "--dir", dir, "--catalog", catalogFile]);
    expect(first).toMatchObject({ code: 0 });
    expect(first.out).toMatch(/fetched 3 file\(s\) into/);
    const second = await run(["download", "--dir", dir, "--catalog", catalogFile]);
    expect(second.out).toMatch(/all 2 model\(s\) already present .*; nothing to do/);
    const list = await run(["list", "--dir", dir]);
    expect(list.out).toMatch(/^llm +test-llm +gguf +1.4 MB  llm\/test.gguf$/m);
    const bad = await run(["download", "--only", "brain"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/models: --only: unknown role brain \(choose from stt, tts, vad, llm, yolo, embedding\)/);
  }, 120_000);
});

describe("the pinned catalog of real models", () => {
  it("covers every role with https URLs and either a pinned sha256 or a stated reason", () => {
    expect(new Set(CATALOG.map((m) => m.role))).toEqual(new Set(MODEL_ROLES));
    for (const m of CATALOG) {
      expect(m.files.map((f) => f.key).sort()).toEqual([...BUNDLE_FILES[m.format]].sort());
      for (const f of m.files) {
        expect(f.url).toMatch(/^(https:\/\/|npm:)/);
        expect(f.path.startsWith(`${m.role}/`)).toBe(true);
        if (f.sha256) expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
        else if (!f.url.startsWith("npm:")) expect(m.unverified).toBeTruthy();
      }
    }
    // The agent config's default STT id is the catalog's.
    expect(CATALOG.find((m) => m.role === "stt")?.name).toBe("moonshine-tiny");
  });
});
