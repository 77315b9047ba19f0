// The network-namespace hosts themselves (lib/netns.ts, which tests import from
// ./netns): teardown leaves nothing behind, and two runs on one machine keep apart.
// @needs netns
import { execFileSync } from "node:child_process";
import { createNetnsHosts } from "./netns";

describe("tearing down the test hosts", () => {
  it("removes every namespace, even ones a killed run left behind", async () => {
    const stale = await createNetnsHosts(2, { prefix: "nsstale" });
    // A second create with the same prefix (as after a crash) replaces the stale ones.
    const fresh = await createNetnsHosts(1, { prefix: "nsstale" });
    await fresh.teardown();
    const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    expect(left).not.toMatch(new RegExp(`nsstale-${process.pid}-`));
    await stale.teardown(); // already gone: must not throw
  });
});

describe("two test runs on one machine", () => {
  it("leave each other's hosts alone, and clear only those of a run that is gone", async () => {
    const run = execFileSync;
    // Another live process's lab (this test's parent, which outlives it) and a dead one's.
    const other = `nspar-${process.ppid}-h1`;
    const dead = "nspar-999999-h1";
    run("ip", ["netns", "add", other]);
    run("ip", ["netns", "add", dead]);
    try {
      const lab = await createNetnsHosts(1, { prefix: "nspar" });
      const names = run("ip", ["netns", "list"], { encoding: "utf8" });
      expect(names).toContain(other);
      expect(names).not.toContain(dead);
      await lab.teardown();
    } finally {
      for (const ns of [other, dead]) { try { run("ip", ["netns", "del", ns]); } catch { /* gone */ } }
    }
  });
});
