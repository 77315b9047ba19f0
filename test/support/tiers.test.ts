// The fast tier (npm run test:fast) leaves out the tests tagged `@needs …` (tiers.js). A
// test that starts namespaces, Chromium, qemu or a Debian root without the tag would make
// the fast tier fail where those are missing, so the tag is checked here, for every test.
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";

const { NEEDS, needsOf, slowReason, testFiles } = require("./tiers") as {
  NEEDS: string[];
  needsOf(file: string): string[];
  slowReason(file: string): string | undefined;
  testFiles(...dirs: string[]): string[];
};

const REPO = join(__dirname, "../..");
const TESTS = testFiles(join(REPO, "test"), join(REPO, "agent/test"));
/** Every test but this one, whose signs below are only written down. */
const OTHERS = TESTS.filter((f) => f !== __filename);

/** What a test's code shows it needs: the helpers that start each thing. */
const SIGNS: Record<string, RegExp> = {
  netns: /\bcreate(Netns|Ssh)Hosts\(|\bcreateLabCluster\(|"ip", \["netns"/,
  chromium: /\blaunchChromium\(/,
  qemu: /"qemu-x86_64"/,
  debootstrap: /\bcopyDebianRoot\(/,
  root: /\basTaskUser: true\b/,
};

describe("the fast tier", () => {
  it("finds the tests of both folders", () => {
    expect(TESTS.length).toBeGreaterThan(50);
  });

  it("knows every word a test's @needs uses", () => {
    const unknown = TESTS.flatMap((f) => needsOf(f).filter((w) => !NEEDS.includes(w)).map((w) => `${relative(REPO, f)}: ${w}`));
    expect(unknown).toEqual([]);
  });

  it("says why each @slow test is slow", () => {
    const bare = TESTS.filter((f) => /@slow\b/.test(readFileSync(f, "utf8").split("import")[0]) && !slowReason(f)).map((f) => relative(REPO, f));
    expect(bare).toEqual([]);
  });

  it("leaves out every test that starts namespaces, Chromium, qemu or a Debian root", () => {
    const untagged = OTHERS.flatMap((f) => {
      const code = readFileSync(f, "utf8");
      const needs = needsOf(f);
      return Object.entries(SIGNS).filter(([word, sign]) => sign.test(code) && !needs.includes(word)).map(([word]) => `${relative(REPO, f)} needs ${word}: add it to its @needs`);
    });
    expect(untagged).toEqual([]);
  });
});
