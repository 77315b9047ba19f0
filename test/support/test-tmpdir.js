// One temporary directory for a whole test run, removed when it ends: suites, the servers
// and tasks they start, and everything those spawn make their scratch files with
// os.tmpdir()/mkdtemp (TMPDIR), and few clean up after themselves — a developer's /tmp
// gathered ~1,900 directories (over 1 GB) of them. Jest's globalSetup sets TMPDIR here
// before any suite runs; globalTeardown removes the directory.
// It is world-writable and sticky like /tmp: tasks run as the unprivileged `aide` user
// (as Nomad would) make their directories under it too.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aide-tests-"));
  fs.chmodSync(dir, 0o1777);
  process.env.AIDE_TEST_TMPDIR = dir;
  process.env.TMPDIR = dir;
}

async function teardown() {
  const dir = process.env.AIDE_TEST_TMPDIR;
  if (!dir || !path.basename(dir).startsWith("aide-tests-")) return;
  fs.rmSync(dir, { recursive: true, force: true });
}

module.exports = { setup, teardown };
