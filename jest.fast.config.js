/**
 * The fast tier, `npm run test:fast`: the tests that need no root, network namespaces,
 * debootstrap, qemu or Chromium, and take seconds, in parallel and without the setup
 * step. `npm test` (jest.config.js) stays the whole suite. The others are tagged `@needs`
 * or `@slow` in their opening comment: see test/support/tiers.js.
 */
const base = require("./jest.config");
const { isFast, testFiles } = require("./test/support/tiers");

const roots = base.roots.map((r) => r.replace("<rootDir>", __dirname));
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

module.exports = {
  ...base,
  testPathIgnorePatterns: ["/node_modules/", ...testFiles(...roots).filter((f) => !isFast(f)).map((f) => `^${escape(f)}$`)],
  // The suites that fight for the cores (jest.config.js's reason for one worker) are left out.
  maxWorkers: "100%",
};
