// The readiness step's wait, over SSH. No Nomad binary can run here, so a script that
// prints Nomad's own table formats (`nomad server members`, `nomad node status`) stands
// in for it, and changes its answer over time as a cluster forming would.
// @needs netns
import * as fs from "node:fs";
import * as path from "node:path";
import { createSshHosts, SshLab } from "../support/ssh-hosts";
import { okStep, runStep } from "./steps";

let lab: SshLab;
beforeAll(async () => {
  lab = await createSshHosts(1, { prefix: "prready" });
}, 60_000);
afterAll(async () => {
  await lab?.teardown();
});

/** A Nomad CLI stand-in: the n-th call to each command reports the n-th state. */
function fakeNomad(root: string, serversAlive: number[], clientsReady: number[]): void {
  const members = (alive: number) =>
    ["Name  Address  Port  Status  Leader  Raft Version  Build  Datacenter  Region"]
      .concat([1, 2, 3].map((i) => `aide-0${i}.global  10.0.0.${i}  4648  ${i <= alive ? "alive" : "failed"}  ${i === 1 && alive >= 2 ? "true" : "false"}  3  1.9.7  aide  global`))
      .join("\\n");
  const nodes = (ready: number) =>
    ["ID  Node Pool  DC  Name  Class  Drain  Eligibility  Status"]
      .concat([1, 2, 3, 4].map((i) => `f4a5c1d${i}  default  aide  aide-0${i}  <none>  false  eligible  ${i <= ready ? "ready" : "initializing"}`))
      .join("\\n");
  const bin = path.join(root, "usr/local/bin");
  fs.mkdirSync(bin, { recursive: true });
  const states = (name: string, list: string[]) => list.map((s, i) => `  ${i}) printf '${s}\\n' ;;`).join("\n") + `\n  *) printf '${list[list.length - 1]}\\n' ;;`;
  fs.writeFileSync(
    path.join(bin, "nomad"),
    `#!/bin/bash
f="${root}/calls-$1"; n=$(cat "$f" 2>/dev/null || echo 0); echo $((n + 1)) > "$f"
if [ "$1" = server ]; then case $n in
${states("server", serversAlive.map(members))}
esac; else case $n in
${states("node", clientsReady.map(nodes))}
esac; fi
`,
    { mode: 0o755 },
  );
}

const vars = (root: string, timeout: string) => ({ AIDE_ROOT: root, AIDE_EXPECT_SERVERS: "3", AIDE_EXPECT_CLIENTS: "4", AIDE_TIMEOUT_S: timeout, AIDE_POLL_S: "1" });

it("waits while the cluster forms and returns once three servers have a leader and every client is ready", async () => {
  const root = fs.mkdtempSync(path.join(lab.dir, "ready-"));
  fakeNomad(root, [1, 2, 3], [0, 2, 3, 4]);
  const out = await okStep(lab, lab.nodes[0], "nomad-ready", "create", vars(root, "60"));
  expect(out).toContain("nomad-ready: 3 servers alive with a leader, 4 clients ready");
  expect(Number(fs.readFileSync(path.join(root, "calls-node"), "utf8"))).toBe(4);
});

it("gives up after its bounded wait and says what is missing and where to look", async () => {
  const root = fs.mkdtempSync(path.join(lab.dir, "stuck-"));
  fakeNomad(root, [2], [3]);
  const started = Date.now();
  const r = await runStep(lab, lab.nodes[0], "nomad-ready", "create", vars(root, "3"));
  expect(r.code).toBe(1);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(r.stderr).toContain("after 3s 2/3 Nomad servers are alive (1 leader) and 3/4 clients ready — on each node: journalctl -u nomad -n 50");
});
