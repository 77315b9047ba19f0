// The engine step on a CPU class's builder runs the very build script CI uses, from the
// source the control node copied; the other node of the class receives the result.
// (No second compile here: the builder's prefix already holds CI's build of the same
// bundle, profile and flags, so the script must find it up to date — wrong paths,
// a wrong bundle or other flags would make it start compiling and fail the test.)
// @needs netns
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ENGINE_PREFIX } from "../../infra/distribution";
import { createSshHosts, SshLab } from "../support/ssh-hosts";
import { okStep, runStep, sha256File, summary } from "./steps";

const REPO = path.join(__dirname, "../..");
let lab: SshLab;

beforeAll(async () => {
  lab = await createSshHosts(2, { prefix: "prengine" });
}, 60_000);
afterAll(async () => {
  await lab?.teardown();
});

it("the builder finds CI's build up to date with the same script and bundle; the other node gets a byte-identical copy", async () => {
  const ciPrefix = execFileSync("bash", ["scripts/build-llama.sh", "--print-prefix"], { cwd: REPO, encoding: "utf8" }).trim();
  expect(fs.existsSync(path.join(ciPrefix, ".aide-build"))).toBe(true);
  const [builder, receiver] = lab.nodes;
  const rootB = fs.mkdtempSync(path.join(lab.dir, "builder-"));
  const rootR = fs.mkdtempSync(path.join(lab.dir, "receiver-"));
  const relay = async (env: Record<string, string>) => {
    const r = await lab.onControl(["bash", path.join(REPO, "infra/scripts/relay.sh")], { AIDE_SSH_KEY: lab.privateKey, AIDE_KNOWN_HOSTS: path.join(lab.dir, "kh"), ...env }, 300_000);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout;
  };
  // What Distribution does: the llama.cpp source to the builder only...
  await relay({ AIDE_FROM: `local:${REPO}`, AIDE_INCLUDE: "node_modules/node-llama-cpp/llama/gitRelease.bundle\nscripts/build-llama.sh", AIDE_TO: `root@${builder.address}:22:${rootB}/var/lib/aide/src` });
  // (the builder's earlier build, here CI's)
  await relay({ AIDE_FROM: `local:${ciPrefix}`, AIDE_TO: `root@${builder.address}:22:${rootB}${ENGINE_PREFIX}` });
  const vars = { AIDE_ROLE: "build", AIDE_CPU_CLASS: "core2-abc", AIDE_PREFIX: ENGINE_PREFIX, AIDE_SRC: "/var/lib/aide/src", AIDE_PROFILE: "core2" };
  const built = await okStep(lab, builder, "llama", "create", { ...vars, AIDE_ROOT: rootB });
  expect(built).toMatch(/llama: build-llama: up to date: core2 build of [0-9a-f]{12} in /);
  expect(summary(built)).toBe("llama: create: no changes");

  // ...then the receiver's copy, straight from the builder, and its own check.
  const copied = await relay({ AIDE_FROM: `root@${builder.address}:22:${rootB}${ENGINE_PREFIX}`, AIDE_TO: `root@${receiver.address}:22:${rootR}${ENGINE_PREFIX}` });
  expect(summary(copied)).toBe("relay: create: 1 change(s)");
  for (const bin of ["llama-server", "ggml-rpc-server", "llama-bench", "llama-cli"]) {
    expect(sha256File(path.join(rootR, ENGINE_PREFIX, "bin", bin))).toBe(sha256File(path.join(ciPrefix, "bin", bin)));
  }
  const received = await okStep(lab, receiver, "llama", "create", { ...vars, AIDE_ROLE: "receive", AIDE_ROOT: rootR });
  expect(received).toContain(`llama: unchanged: ${ENGINE_PREFIX} (copied from this CPU class's builder)`);

  // A profile that does not match the CPU class's build is refused before anything runs.
  const wrong = await runStep(lab, builder, "llama", "create", { ...vars, AIDE_ROOT: rootB, AIDE_PROFILE: "avx512" });
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toContain("unknown llama.cpp profile 'avx512'");

  for (const [node, root] of [[builder, rootB], [receiver, rootR]] as const) {
    await okStep(lab, node, "llama", "delete", { ...vars, AIDE_ROOT: root });
    expect(fs.readdirSync(path.join(root, "opt/aide"))).toEqual([]);
  }
  expect(fs.existsSync(path.join(rootB, "var/lib/aide/src"))).toBe(false);
}, 600_000);
