// relay.sh for real: the control node streams the llama.cpp build from the node that
// built it to another node of its CPU class, and the model with its checksum checked.
// @needs netns
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createSshHosts, RunResult, SshLab } from "../support/ssh-hosts";
import { sha256File, summary } from "./steps";

const RELAY = path.join(__dirname, "../../infra/scripts/relay.sh");
let lab: SshLab;
let work: string;
let llamaBin: string;

beforeAll(async () => {
  lab = await createSshHosts(2, { prefix: "prrelay" });
  work = fs.mkdtempSync(path.join(lab.dir, "relay-"));
  llamaBin = path.join(execFileSync("bash", ["scripts/build-llama.sh", "--print-prefix"], { cwd: path.join(__dirname, "../.."), encoding: "utf8" }).trim(), "bin");
  if (!fs.existsSync(path.join(llamaBin, "llama-server"))) throw new Error(`llama.cpp is not built at ${llamaBin}: run 'bash scripts/build-llama.sh' first`);
}, 60_000);
afterAll(async () => {
  await lab?.teardown();
});

function relay(env: Record<string, string>): Promise<RunResult> {
  return lab.onControl(["bash", RELAY], { AIDE_SSH_KEY: lab.privateKey, AIDE_KNOWN_HOSTS: path.join(lab.dir, "known_hosts"), ...env }, 180_000);
}
const spec = (i: number, dir: string) => `root@${lab.nodes[i].address}:22:${dir}`;

it("copies the built engine from its builder to another node once, and again only when it differs", async () => {
  const builderDir = path.join(work, "node1-engine");
  const receiverDir = path.join(work, "node2-engine");
  // The builder's engine: the CI build of the same script, sent from the control node.
  const seed = await relay({ AIDE_FROM: `local:${path.dirname(llamaBin)}`, AIDE_INCLUDE: "bin", AIDE_TO: spec(0, builderDir) });
  expect(seed.code).toBe(0);
  const env = { AIDE_FROM: spec(0, builderDir), AIDE_TO: spec(1, receiverDir) };
  const first = await relay(env);
  expect(first.stderr).toBe("");
  expect(summary(first.stdout)).toBe("relay: create: 1 change(s)");
  const version = await lab.ssh(lab.nodes[1], `${receiverDir}/bin/llama-server --version`);
  expect(version.stdout + version.stderr).toMatch(/version: \d+/);
  expect(sha256File(path.join(receiverDir, "bin/ggml-rpc-server"))).toBe(sha256File(path.join(llamaBin, "ggml-rpc-server")));

  expect(summary((await relay(env)).stdout)).toBe("relay: create: no changes");
  fs.appendFileSync(path.join(receiverDir, "bin/llama-cli"), "corrupted");
  expect(summary((await relay(env)).stdout)).toBe("relay: create: 1 change(s)");
  expect(sha256File(path.join(receiverDir, "bin/llama-cli"))).toBe(sha256File(path.join(llamaBin, "llama-cli")));
});

it("checks the model's sha256 on the receiving node", async () => {
  const src = path.join(work, "node1-models");
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, "tiny.gguf"), "GGUF pretend weights");
  const env = { AIDE_FROM: spec(0, src), AIDE_INCLUDE: "tiny.gguf", AIDE_TO: spec(1, path.join(work, "node2-models")) };
  const ok = await relay({ ...env, AIDE_SHA256: sha256File(path.join(src, "tiny.gguf")) });
  expect(ok.stdout).toContain(`relay: sha256 checked on ${lab.nodes[1].address}`);
  const bad = await relay({ ...env, AIDE_SHA256: "f".repeat(64) });
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain(`tiny.gguf on ${lab.nodes[1].address} does not have sha256 ${"f".repeat(64)}`);
});

it("copies a model whose file name begins with '-' as a file, not as an option to find or tar", async () => {
  const src = path.join(work, "node1-dash");
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, "-delete.gguf"), "GGUF pretend weights");
  fs.writeFileSync(path.join(src, "keep.txt"), "must not be touched");
  const to = path.join(work, "node2-dash");
  const r = await relay({ AIDE_FROM: spec(0, src), AIDE_INCLUDE: "-delete.gguf", AIDE_TO: spec(1, to), AIDE_SHA256: sha256File(path.join(src, "-delete.gguf")) });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(fs.readFileSync(path.join(to, "-delete.gguf"), "utf8")).toBe("GGUF pretend weights");
  expect(fs.existsSync(path.join(src, "keep.txt"))).toBe(true);
  expect(summary((await relay({ AIDE_FROM: spec(0, src), AIDE_INCLUDE: "-delete.gguf", AIDE_TO: spec(1, to) })).stdout)).toBe("relay: create: no changes");
});

it("does nothing, and says why, on the node that built the engine itself", async () => {
  const r = await relay({ AIDE_FROM: "", AIDE_TO: spec(1, "/nonexistent"), AIDE_SKIP_REASON: "this node built its engine itself" });
  expect(r.stdout).toBe("relay: nothing to copy: this node built its engine itself\nrelay: create: no changes\n");
});

it("names the source when it cannot be read, and never prints the key", async () => {
  const r = await relay({ AIDE_FROM: spec(0, path.join(work, "missing")), AIDE_INCLUDE: "x.gguf", AIDE_TO: spec(1, path.join(work, "nowhere")) });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`relay: cannot read the source root@${lab.nodes[0].address}:22:${path.join(work, "missing")}`);
  expect(r.stdout + r.stderr).not.toContain(lab.privateKey.split("\n")[1]);
  fs.mkdirSync(path.join(work, "empty"));
  const none = await relay({ AIDE_FROM: spec(0, path.join(work, "empty")), AIDE_INCLUDE: "x.gguf", AIDE_TO: spec(1, path.join(work, "nowhere")) });
  expect(none.stderr).toContain(`relay: the source root@${lab.nodes[0].address}:22:${path.join(work, "empty")} has none of: x.gguf`);
});
