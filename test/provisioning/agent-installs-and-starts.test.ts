// The agent step's install, for real: the agent package as relay.sh delivers it (package.json
// and dist/, compiled here by npm run build:agent), npm install from the registry (nodes have
// internet; the netns test hosts do not, so this runs the same step program here, into a root
// directory), then the agent starts the way the voice-agent job starts it: node dist/main.js.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stepCommand, stepProgram } from "../../infra/shell";
import { summary } from "./steps";
import { buildAgent } from "../../scripts/build-agent";

const REPO = path.join(__dirname, "../..");
let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "aide-agent-root-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function step(op: "create" | "delete", vars: Record<string, string>) {
  const [cmd, ...args] = stepCommand(op, "root").split(" ");
  const r = spawnSync(cmd, args, { input: stepProgram("agent", vars), encoding: "utf8", cwd: os.tmpdir(), timeout: 15 * 60_000 });
  if (r.status !== 0) throw new Error(`agent ${op} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

it("installs the compiled agent with no compiler, and the installed agent starts on its own", async () => {
  await buildAgent();
  const incoming = path.join(root, "opt/aide/agent.incoming");
  fs.mkdirSync(incoming, { recursive: true });
  fs.copyFileSync(path.join(REPO, "agent/package.json"), path.join(incoming, "package.json"));
  fs.cpSync(path.join(REPO, "agent/dist"), path.join(incoming, "dist"), { recursive: true });
  const vars = { AIDE_ROOT: root, AIDE_AGENT_DIR: "/opt/aide/agent", AIDE_STAMP: "t1" };

  expect(summary(step("create", vars))).toBe("agent: create: 1 change(s)");
  const dir = path.join(root, "opt/aide/agent");
  const help = spawnSync(process.execPath, ["dist/main.js", "--help"], { cwd: dir, encoding: "utf8", timeout: 120_000 });
  expect(help.stderr).toBe("");
  expect(help.stdout).toContain("Aide voice agent");
  // Nothing compiles on the node: neither TypeScript nor ts-node is installed there.
  expect(fs.existsSync(path.join(dir, "node_modules/typescript"))).toBe(false);
  expect(fs.existsSync(path.join(dir, "node_modules/ts-node"))).toBe(false);

  expect(summary(step("create", vars))).toBe("agent: create: no changes");
  step("delete", vars);
  expect(fs.readdirSync(path.join(root, "opt/aide"))).toEqual([]);
}, 20 * 60_000);
