// The prima.cpp step over SSH in a Debian 12 root. prima.cpp's and HiGHS's sources
// cannot be fetched here, so small stand-in source tarballs take their place: a HiGHS
// CMake project that installs a static libhighs and Highs.h, and a Makefile that builds
// llama-server and llama-cli only with USE_HIGHS=1 and only if Highs.h and -lhighs are
// found. What is real: checksum pinning, ZeroMQ/fio from apt, the HiGHS cmake build and
// install, make finding it, install, idempotence and delete.
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
  root = copyDebianRoot(path.join(lab.dir, "debian"), ["libzmq3-dev", "fio"], ["libzmq3-dev", "fio"]);
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

it("builds HiGHS, then prima.cpp with USE_HIGHS=1 against it; a second run changes nothing; delete removes it all", async () => {
  const highs = tarball("HiGHS-1.9.0", {
    "CMakeLists.txt": "cmake_minimum_required(VERSION 3.16)\nproject(highs C)\nadd_library(highs STATIC src/highs.c)\ninstall(TARGETS highs ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})\ninstall(FILES src/Highs.h DESTINATION include/highs)\n",
    "src/highs.c": "int highs_version(void) { return 190; }\n",
    "src/Highs.h": "int highs_version(void);\n",
  });
  const prima = tarball("prima.cpp-bdf9d8e", {
    Makefile:
      "llama-server llama-cli:\n\ttest \"$(USE_HIGHS)\" = 1\n" +
      "\tprintf '#include \"Highs.h\"\\nint main(void) { return highs_version() == 190 ? 0 : 1; }\\n' > $@.c\n" +
      "\t$(CC) $@.c -lhighs -o $@\n",
  });
  const vars = {
    AIDE_ROOT: root, AIDE_CHROOT: "1", AIDE_ROLE: "build", AIDE_CPU_CLASS: "core2-test", AIDE_PREFIX: "/opt/aide/engine", AIDE_SRC: "/var/lib/aide/src",
    AIDE_PROFILE: "core2", AIDE_PRIMA_URL: `file://${prima}`, AIDE_PRIMA_SHA256: sha256File(prima), AIDE_HIGHS_URL: `file://${highs}`, AIDE_HIGHS_SHA256: sha256File(highs),
  };
  const before = snapshot(path.join(root, "opt"));
  const first = await okStep(lab, lab.nodes[0], "primacpp", "create", vars);
  expect(first).toContain("primacpp: changed: prima.cpp built for CPU class core2-test in /opt/aide/engine");
  for (const bin of ["llama-server", "llama-cli"]) {
    // The stand-in binaries exit 0 only when linked against the HiGHS the step built.
    execFileSync(path.join(root, "opt/aide/engine/bin", bin));
  }
  expect(summary(await okStep(lab, lab.nodes[0], "primacpp", "create", vars))).toBe("primacpp: create: no changes");

  const badPin = await runStep(lab, lab.nodes[0], "primacpp", "update", { ...vars, AIDE_PRIMA_SHA256: "1".repeat(64) });
  expect(badPin.code).toBe(1);
  expect(badPin.stderr).toContain(`but the stack pins ${"1".repeat(64)}`);

  await okStep(lab, lab.nodes[0], "primacpp", "delete", vars);
  expect(snapshot(path.join(root, "opt"))).toEqual(before);
  for (const p of ["var/lib/aide/src/primacpp", "var/cache/aide/prima.tar.gz", "var/cache/aide/highs.tar.gz"]) expect(fs.existsSync(path.join(root, p))).toBe(false);
}, 20 * 60_000);

it("refuses to build without ZeroMQ and fio, naming the step that installs them", async () => {
  const bare = fs.mkdtempSync(path.join(lab.dir, "bare-"));
  const r = await runStep(lab, lab.nodes[0], "primacpp", "create", {
    AIDE_ROOT: bare, AIDE_ROLE: "build", AIDE_CPU_CLASS: "x", AIDE_PREFIX: "/opt/aide/engine", AIDE_SRC: "/var/lib/aide/src", AIDE_PROFILE: "core2",
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("package libzmq3-dev is missing — the base step installs it when the backend is primacpp");
});
