// Which tests need more than this checkout and its npm dependencies. A test that does says
// so in the comment it opens with, e.g. `// @needs root, netns`, using the words of NEEDS;
// the fast tier (jest.fast.config.js, `npm run test:fast`) leaves it out, `npm test` runs it.
// tiers.test.ts checks that tests which start namespaces, Chromium, qemu or a Debian root
// carry the tag, so the fast tier stays runnable as tests are added.
const fs = require("node:fs");
const path = require("node:path");

const NEEDS = ["root", "netns", "debootstrap", "qemu", "chromium"];

/** The `@needs` words in the comment a test file opens with ([] when it needs nothing more). */
function needsOf(file) {
  const header = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!/^\s*(\/\/|\/\*|\*|$)/.test(line)) break;
    header.push(line);
  }
  const tag = /@needs\s+([a-z0-9, ]+)/.exec(header.join("\n"));
  return tag ? tag[1].split(/[\s,]+/).filter(Boolean) : [];
}

/** Every *.test.ts below `dirs`. */
function testFiles(...dirs) {
  return dirs.flatMap((dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : testFiles(p);
    return e.name.endsWith(".test.ts") ? [p] : [];
  }));
}

module.exports = { NEEDS, needsOf, testFiles };
