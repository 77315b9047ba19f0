/**
 * The fast tier, `npm run test:fast`: every test that needs nothing but this checkout and
 * its npm dependencies (no root, network namespaces, debootstrap, qemu or Chromium), in
 * parallel and without the setup step. `npm test` (jest.config.js) stays the whole suite.
 * A test that needs more is tagged `@needs …` in its opening comment: see test/support/tiers.js.
 */
const base = require("./jest.config");
const { needsOf, testFiles } = require("./test/support/tiers");

const roots = base.roots.map((r) => r.replace("<rootDir>", __dirname));
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

module.exports = {
  ...base,
  testPathIgnorePatterns: ["/node_modules/", ...testFiles(...roots).filter((f) => needsOf(f).length > 0).map((f) => `^${escape(f)}$`)],
  // Without the netns and qemu suites' llama.cpp servers, tests can share the cores.
  maxWorkers: "100%",
};
