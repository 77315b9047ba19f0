// npm run bench:cluster — the legacy-cluster lab: what a user waits for on Core 2
// desktops, measured on an emulated cluster on this machine.
//
// Nodes are network-namespace hosts on a 1 Gbit/s shaped bridge, each held to the CPU
// budget of a Core 2 Duo (cgroup v1 CFS quota), calibrated every run against a published
// Core 2 Quad measurement and cross-checked against a second one. Aide's parts run there
// with the command lines of its own Nomad jobs, on full-size stand-in models (the real
// models' shapes and cost, random weights); a scripted conversation plays into the real
// agent over its WebSocket from a "phone" host. Placements are compared in one run; last
// come one summary line per placement:
//
//   bench:cluster placement=<name> v2v_p50_s=<x> v2v_p95_s=<y> first_turn_s=<z> prompt_after_stop_p95=<n> gen_tok_s=<r>
//
//   sudo npm run bench:cluster
//   npm run bench:cluster -- --placements jobs-today,rpc-split --turns 12
//   npm run bench:cluster -- --node-budget 0.42     skip calibration, use this budget (printed as given)
//   npm run bench:cluster -- --out DIR              where the timeline picture and raw results go
//   npm run bench:cluster -- --report DIR           print a finished run's report again from DIR
//
// Needs root (namespaces, cgroups, tc): without it, one line saying so and exit 2.
// No added network latency: netem does not exist on this kernel, and a LAN's ~0.2 ms
// round trip is far below everything measured here, so none is modelled.
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { labPreflight } from "../lab/cluster";
import { reportFrom, runLab } from "../lab/run";

const HELP = readFileSync(__filename, "utf8").split("\n").filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith("//"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n");

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const saved = arg("report");
  if (saved) {
    reportFrom(saved, (line) => process.stdout.write(`${line}\n`));
    return;
  }
  const reason = labPreflight();
  if (reason) {
    process.stderr.write(`bench:cluster: ${reason}\n`);
    process.exit(2);
  }
  const turns = arg("turns") !== undefined ? Number(arg("turns")) : undefined;
  if (turns !== undefined && !(Number.isInteger(turns) && turns >= 2 && turns <= 60)) {
    throw new Error(`--turns must be a whole number from 2 to 60, got '${arg("turns")}'`);
  }
  const budget = arg("node-budget") !== undefined ? Number(arg("node-budget")) : undefined;
  if (budget !== undefined && !(budget >= 0.1 && budget <= 2)) throw new Error(`--node-budget must be cores of this machine from 0.1 to 2, got '${arg("node-budget")}'`);
  const out = arg("out") ?? mkdtempSync(join(tmpdir(), "aide-bench-cluster-"));
  mkdirSync(out, { recursive: true });
  await runLab({
    placements: arg("placements")?.split(",").map((s) => s.trim()).filter(Boolean),
    turns,
    nodeBudget: budget,
    out,
    log: (line) => process.stdout.write(`${line}\n`),
  });
}

main().catch((error) => {
  process.stderr.write(`bench:cluster failed: ${(error as Error)?.message ?? error}\n`);
  process.exit(1);
});
