// Which tests the fast tier (jest.fast.config.js, `npm run test:fast`) leaves out; `npm test`
// runs them all. A test says so in the comment it opens with:
// - `@needs root, netns` (words of NEEDS): it needs more than this checkout, its npm
//   dependencies and what `npm start` needs (llama.cpp's build, espeak-ng, ffmpeg).
// - `@slow: why`: it takes more than about 10 s alone on 2 cores, or needs quiet cores.
// tiers.test.ts checks that tests which start namespaces, Chromium, qemu or a Debian root
// carry the tag, so the fast tier stays runnable as tests are added.
const fs = require("node:fs");
const path = require("node:path");

const NEEDS = ["root", "netns", "debootstrap", "qemu", "chromium"];

/** The `@needs` words in the comment a test file opens with ([] when it needs nothing more). */
function needsOf(file) {
  const tag = /@needs\s+([a-z0-9, ]+)/.exec(header(file));
  return tag ? tag[1].split(/[\s,]+/).filter(Boolean) : [];
}

/** The comment a file opens with. */
function header(file) {
  const lines = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!/^\s*(\/\/|\/\*|\*|$)/.test(line)) break;
    lines.push(line);
  }
  return lines.join("\n");
}

/** Why the test is too slow for the fast tier, or undefined. */
function slowReason(file) {
  return /@slow:\s*(.+)/.exec(header(file))?.[1].trim();
}

/** Whether the fast tier runs the test. */
function isFast(file) {
  return needsOf(file).length === 0 && slowReason(file) === undefined;
}

/** Every *.test.ts below `dirs`. */
function testFiles(...dirs) {
  return dirs.flatMap((dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : testFiles(p);
    return e.name.endsWith(".test.ts") ? [p] : [];
  }));
}

module.exports = { NEEDS, needsOf, slowReason, isFast, testFiles };
