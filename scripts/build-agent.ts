// npm run build:agent — the agent package as the nodes receive it: agent/dist/, its
// TypeScript compiled to CommonJS JavaScript (agent/tsconfig.build.json), the files it
// reads beside its code (page.html, the embedding worker), and the page's browser client
// bundled by esbuild. The nodes run `node dist/main.js`: no compiler there, and no
// compile at every start (under qemu core2duo the agent's start went from ts-node's
// compile to loading JavaScript: `npm run bench:agent-start` measures both).
//
// Skipped when dist/ was built from the same sources (dist/.source-hash), so `pulumi up`
// may ask for it every time.
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { bundlePageClient } from "../agent/src/web/assets";

const AGENT = path.join(__dirname, "..", "agent");
export const AGENT_DIST = path.join(AGENT, "dist");
const HASH_FILE = path.join(AGENT_DIST, ".source-hash");

/** What dist/ is built from: the sources, the package and the compiler settings. */
export function agentSourceHash(): string {
  const h = crypto.createHash("sha256");
  const walk = (p: string) => {
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    else h.update(path.relative(AGENT, p)).update("\0").update(fs.readFileSync(p));
  };
  for (const part of ["package.json", "tsconfig.build.json", "src"]) walk(path.join(AGENT, part));
  return h.digest("hex").slice(0, 16);
}

/** Builds agent/dist unless it is current; returns whether it built. */
export async function buildAgent(log: (line: string) => void = () => {}): Promise<boolean> {
  const hash = agentSourceHash();
  if (fs.existsSync(HASH_FILE) && fs.readFileSync(HASH_FILE, "utf8") === hash) return false;
  fs.rmSync(AGENT_DIST, { recursive: true, force: true }); // nothing stale from a removed source
  log("compiling agent/src to agent/dist");
  const tsc = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(AGENT, "tsconfig.build.json")], { encoding: "utf8" });
  if (tsc.status !== 0) throw new Error(`the agent does not compile (tsc -p agent/tsconfig.build.json):\n${tsc.stdout}${tsc.stderr}`);
  // What the code reads beside itself at run time.
  const src = path.join(AGENT, "src");
  for (const file of fs.readdirSync(src, { recursive: true }) as string[]) {
    if (/\.(html|mjs)$/.test(file)) fs.cpSync(path.join(src, file), path.join(AGENT_DIST, file));
  }
  fs.writeFileSync(path.join(AGENT_DIST, "web", "client.js"), await bundlePageClient());
  fs.writeFileSync(HASH_FILE, hash);
  return true;
}

if (require.main === module) {
  buildAgent((line) => process.stdout.write(`build:agent: ${line}\n`))
    .then((built) => process.stdout.write(`build:agent: ${built ? "built" : "already current:"} ${AGENT_DIST}\n`))
    .catch((error: Error) => {
      process.stderr.write(`build:agent: ${error.message}\n`);
      process.exit(1);
    });
}
