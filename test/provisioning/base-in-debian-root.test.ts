// The base step for real inside a throwaway Debian 12 root over SSH: apt really installs,
// systemctl really enables, and delete purges exactly what it installed.
// @needs netns, debootstrap
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createSshHosts, SshLab } from "../support/ssh-hosts";
import { copyDebianRoot } from "./debian-root";
import { okStep, summary } from "./steps";

const PACKAGES = ["unzip", "nftables", "systemd-timesyncd"];
let lab: SshLab;
let root: string;

beforeAll(async () => {
  lab = await createSshHosts(1, { prefix: "prbase" });
  root = copyDebianRoot(path.join(lab.dir, "debian"), PACKAGES);
}, 30 * 60_000);
afterAll(async () => {
  await lab?.teardown();
});

const installed = () =>
  execFileSync("chroot", [root, "dpkg-query", "-W", "-f=${db:Status-Abbrev}${Package}\\n"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith("ii "))
    .map((l) => l.slice(3))
    .sort();

it("installs packages, enables time sync and the CPU governor, makes swap; twice changes nothing; delete puts it back", async () => {
  const vars = { AIDE_ROOT: root, AIDE_CHROOT: "1", AIDE_PACKAGES: PACKAGES.join(" "), AIDE_SWAP_MB: "8", AIDE_NODE: "aide-01" };
  const before = installed();
  const fstabBefore = fs.readFileSync(path.join(root, "etc/fstab"), "utf8");
  expect(before).not.toContain("nftables");

  const first = await okStep(lab, lab.nodes[0], "base", "create", vars);
  expect(first).toMatch(/base: changed: installed unzip nftables systemd-timesyncd \(\d+ packages with dependencies\)/);
  const after = installed();
  for (const p of PACKAGES) expect(after).toContain(p);
  expect(fs.readlinkSync(path.join(root, "etc/systemd/system/multi-user.target.wants/aide-cpu-governor.service"))).toBe("/etc/systemd/system/aide-cpu-governor.service");
  expect(fs.existsSync(path.join(root, "etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service"))).toBe(true);
  const swap = path.join(root, "var/lib/aide/swapfile");
  expect(fs.statSync(swap).size).toBe(8 * 1024 * 1024);
  expect(fs.readFileSync(swap).subarray(4096 - 10, 4096).toString()).toBe("SWAPSPACE2");
  expect(fs.readFileSync(path.join(root, "etc/fstab"), "utf8")).toContain("/var/lib/aide/swapfile none swap sw 0 0 # aide-swap");
  // The step never touched this machine's swap.
  expect(fs.readFileSync("/proc/swaps", "utf8")).not.toContain("aide");

  const second = await okStep(lab, lab.nodes[0], "base", "create", vars);
  expect(summary(second)).toBe("base: create: no changes");
  expect(installed()).toEqual(after);

  const removed = await okStep(lab, lab.nodes[0], "base", "delete", vars);
  expect(removed).toContain("base: changed: purged packages this step installed");
  expect(installed()).toEqual(before);
  expect(fs.readFileSync(path.join(root, "etc/fstab"), "utf8")).toBe(fstabBefore);
  for (const p of ["var/lib/aide/swapfile", "var/lib/aide/base-packages.list", "etc/systemd/system/aide-cpu-governor.service", "etc/systemd/system/multi-user.target.wants/aide-cpu-governor.service"]) {
    expect(fs.existsSync(path.join(root, p))).toBe(false);
  }
  expect(summary(await okStep(lab, lab.nodes[0], "base", "delete", vars))).toBe("base: delete: no changes");
}, 15 * 60_000);
