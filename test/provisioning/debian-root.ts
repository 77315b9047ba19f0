// A throwaway Debian 12 root for steps that install packages and enable services:
// debootstrap'd once into $AIDE_CACHE (minutes), copied per test run (seconds).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const CACHE = process.env.AIDE_CACHE || path.join(os.homedir(), ".cache/aide");
const ROOT = path.join(CACHE, "rootfs/bookworm");

function sh(argv: string[], timeoutMs: number): void {
  execFileSync(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], timeout: timeoutMs });
}

/**
 * A fresh copy of the cached Debian 12 root at `dest`, with the .debs of `packages`
 * already downloaded into its apt cache: test hosts have no internet, nodes do.
 * `preinstall` (a subset of `packages`) is installed in the copy first, to look like a
 * desktop's net-install (which has systemd and systemd-timesyncd; minbase has neither).
 */
export function copyDebianRoot(dest: string, packages: string[], preinstall: string[] = []): string {
  fs.mkdirSync(path.dirname(ROOT), { recursive: true });
  // Serialise with other suites preparing the same cache.
  execFileSync("flock", [`${ROOT}.lock`, "true"]);
  if (!fs.existsSync(path.join(ROOT, "etc/debian_version"))) {
    const tmp = `${ROOT}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    try {
      sh(["flock", `${ROOT}.lock`, "debootstrap", "--variant=minbase", "bookworm", tmp, "http://deb.debian.org/debian"], 20 * 60_000);
    } catch (e) {
      throw new Error(`debootstrap of Debian 12 into ${tmp} failed (needs apt access to deb.debian.org): ${(e as Error).message}`);
    }
    fs.renameSync(tmp, ROOT);
  }
  const marker = path.join(ROOT, `.aide-debs-${packages.join("_")}`);
  if (!fs.existsSync(marker)) {
    sh(["flock", `${ROOT}.lock`, "chroot", ROOT, "apt-get", "update", "-q"], 5 * 60_000);
    sh(["flock", `${ROOT}.lock`, "chroot", ROOT, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--download-only", "--no-install-recommends", ...packages], 10 * 60_000);
    fs.writeFileSync(marker, "");
  }
  sh(["cp", "-a", ROOT, dest], 5 * 60_000);
  if (preinstall.length > 0) {
    sh(["chroot", dest, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--no-install-recommends", "--no-download", ...preinstall], 10 * 60_000);
  }
  return dest;
}
