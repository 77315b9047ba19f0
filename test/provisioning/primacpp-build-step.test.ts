// The prima.cpp step over SSH in a Debian 12 root. prima.cpp's source cannot be fetched
// here, so a small stand-in source tarball takes its place: a Makefile that builds
// llama-server and llama-cli and fails if asked for HiGHS (USE_HIGHS) — the job passes
// -lw on every rank, so prima's scheduler (HiGHS) and profiler (fio) never run, and HiGHS
// would bring -mpopcnt and a missing -lz (shared/prima/FLAGS.md). The root has ZeroMQ
// and no fio. What is real: checksum pinning, the apt check, make, install, idempotence,
// removing an earlier version's HiGHS, and delete.
// @needs netns, debootstrap
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createSshHosts, SshLab } from "../support/ssh-hosts";
import { copyDebianRoot } from "./debian-root";
import { okStep, runStep, sha256File, snapshot, summary } from "./steps";

let lab: SshLab;
let root: string;
let work: string;

beforeAll(async () => {
  lab = await createSshHosts(1, { prefix: "prprima" });
  root = copyDebianRoot(path.join(lab.dir, "debian"), ["libzmq3-dev"], ["libzmq3-dev"]);
  work = fs.mkdtempSync(path.join(lab.dir, "src-"));
}, 30 * 60_000);
afterAll(async () => {
  await lab?.teardown();
});

function tarball(name: string, files: Record<string, string>): string {
  const dir = path.join(work, name);
  for (const [f, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), body);
  }
  const out = path.join(work, `${name}.tar.gz`);
  execFileSync("tar", ["-czf", out, "-C", work, name]);
  return out;
}

it("builds prima.cpp without HiGHS or fio; a second run changes nothing; an earlier HiGHS build goes; delete removes it all", async () => {
  const prima = tarball("prima.cpp-bdf9d8e", {
    Makefile:
      "llama-server llama-cli:\n" +
      "\t@if [ -n \"$(USE_HIGHS)\" ]; then echo 'stand-in prima.cpp: asked for HiGHS' >&2; exit 1; fi\n" +
      "\tprintf 'int main(void) { return 0; }\\n' > $@.c\n" +
      "\t$(CC) $@.c -o $@\n",
  });
  const vars = {
    AIDE_ROOT: root, AIDE_CHROOT: "1", AIDE_ROLE: "build", AIDE_CPU_CLASS: "core2-test", AIDE_PREFIX: "/opt/aide/engine", AIDE_SRC: "/var/lib/aide/src",
    AIDE_PROFILE: "core2", AIDE_PRIMA_URL: `file://${prima}`, AIDE_PRIMA_SHA256: sha256File(prima),
  };
  const before = snapshot(path.join(root, "opt"));
  // What the step built before: HiGHS under the prefix and its tarball in the cache.
  fs.mkdirSync(path.join(root, "opt/aide/engine/highs/lib"), { recursive: true });
  fs.writeFileSync(path.join(root, "opt/aide/engine/highs/lib/libhighs.a"), "old");
  fs.mkdirSync(path.join(root, "var/cache/aide"), { recursive: true });
  fs.writeFileSync(path.join(root, "var/cache/aide/highs.tar.gz"), "old");
  // The root has no fio: nothing may need it.
  expect(fs.existsSync(path.join(root, "usr/bin/fio"))).toBe(false);

  const first = await okStep(lab, lab.nodes[0], "primacpp", "create", vars);
  expect(first).toContain("primacpp: changed: prima.cpp built for CPU class core2-test in /opt/aide/engine");
  expect(first).toContain("primacpp: changed: removed /opt/aide/engine/highs");
  expect(first).toContain("primacpp: changed: removed /var/cache/aide/highs.tar.gz");
  for (const bin of ["llama-server", "llama-cli"]) execFileSync(path.join(root, "opt/aide/engine/bin", bin));
  expect(summary(await okStep(lab, lab.nodes[0], "primacpp", "create", vars))).toBe("primacpp: create: no changes");

  const badPin = await runStep(lab, lab.nodes[0], "primacpp", "update", { ...vars, AIDE_PRIMA_SHA256: "1".repeat(64) });
  expect(badPin.code).toBe(1);
  expect(badPin.stderr).toContain(`but the stack pins ${"1".repeat(64)}`);

  await okStep(lab, lab.nodes[0], "primacpp", "delete", vars);
  expect(snapshot(path.join(root, "opt"))).toEqual(before);
  for (const p of ["var/lib/aide/src/primacpp", "var/cache/aide/prima.tar.gz", "var/cache/aide/highs.tar.gz"]) expect(fs.existsSync(path.join(root, p))).toBe(false);
}, 20 * 60_000);

it("refuses to build without ZeroMQ, naming the step that installs it", async () => {
  const bare = fs.mkdtempSync(path.join(lab.dir, "bare-"));
  const r = await runStep(lab, lab.nodes[0], "primacpp", "create", {
    AIDE_ROOT: bare, AIDE_ROLE: "build", AIDE_CPU_CLASS: "x", AIDE_PREFIX: "/opt/aide/engine", AIDE_SRC: "/var/lib/aide/src", AIDE_PROFILE: "core2",
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("package libzmq3-dev is missing — the base step installs it when the backend is primacpp");
});
