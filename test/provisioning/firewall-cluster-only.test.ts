// The firewall step for real: nftables inside network-namespace hosts. Cluster ports
// answer cluster addresses only; SSH and the agent page stay open to the LAN.
// @needs netns
import { spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CLUSTER_TCP_PORTS } from "../../infra/node";
import type { NetnsHost } from "../support/netns";
import { createSshHosts, SshLab } from "../support/ssh-hosts";
import { okStep, snapshot, summary } from "./steps";

let lab: SshLab;
let listener: ChildProcess | undefined;
// nodes[0], nodes[1]: cluster members; nodes[2]: another machine on the LAN.
// 23456: a Nomad dynamic port, where llama.cpp RPC workers and llama-server listen.
const PORTS = [4646, 4647, 9000, 9003, 10000, 23456, 8080];

beforeAll(async () => {
  lab = await createSshHosts(3, { prefix: "prfw" });
  const target = lab.nodes[1];
  const script = `const net=require("net");for(const p of ${JSON.stringify(PORTS)})net.createServer(s=>s.end("ok")).listen(p,${JSON.stringify(target.address)});console.log("listening")`;
  listener = spawn("ip", ["netns", "exec", target.ns, process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("test listeners did not start within 10 s")), 10_000);
    listener!.stdout!.once("data", () => {
      clearTimeout(t);
      resolve();
    });
  });
}, 60_000);
afterAll(async () => {
  listener?.kill("SIGKILL");
  await lab?.teardown();
});

async function reaches(from: NetnsHost, to: NetnsHost, port: number): Promise<boolean> {
  const r = await lab.lab.exec(from, ["bash", "-c", `timeout 2 bash -c 'exec 3<>/dev/tcp/${to.address}/${port}; head -c2 <&3'`]).catch(() => ({ stdout: "" }));
  return r.stdout === "ok";
}

async function reachability(from: NetnsHost): Promise<Record<number, boolean>> {
  const out: Record<number, boolean> = {};
  for (const p of PORTS) out[p] = await reaches(from, lab.nodes[1], p);
  return out;
}

it("fences Nomad and the engines' ports to the cluster, keeps SSH and the agent page open, and delete lifts it", async () => {
  const [member, target, outsider] = lab.nodes;
  const root = fs.mkdtempSync(path.join(lab.dir, "fw-root-"));
  const vars = { AIDE_ROOT: root, AIDE_LIVE: "1", AIDE_CLUSTER_ADDRESSES: `${member.address} ${target.address}`, AIDE_CLUSTER_TCP_PORTS: CLUSTER_TCP_PORTS.join(", ") };
  const allOpen = Object.fromEntries(PORTS.map((p) => [p, true]));
  expect(await reachability(outsider)).toEqual(allOpen);

  const first = await okStep(lab, target, "firewall", "create", vars);
  expect(summary(first)).toMatch(/change\(s\)$/);
  expect(await reachability(member)).toEqual(allOpen);
  expect(await reachability(outsider)).toEqual({ 4646: false, 4647: false, 9000: false, 9003: false, 10000: false, 23456: false, 8080: true });
  // The control node (the SSH client that ran the step) may reach Nomad's API, nothing else fenced.
  expect(await reaches(lab.control, target, 4646)).toBe(true);
  expect(await reaches(lab.control, target, 9000)).toBe(false);
  expect((await lab.ssh(target, "true")).code).toBe(0);
  const outsiderSsh = await lab.lab.exec(outsider, ["bash", "-c", `timeout 2 bash -c 'exec 3<>/dev/tcp/${target.address}/22; head -c3 <&3'`]);
  expect(outsiderSsh.stdout).toBe("SSH");

  expect(summary(await okStep(lab, target, "firewall", "create", vars))).toBe("firewall: create: no changes");
  expect(fs.readFileSync(path.join(root, "etc/aide/firewall.nft"), "utf8")).toContain(`elements = { ${member.address},${target.address} }`);

  // A table flushed behind Aide's back (a reboot without the unit) is loaded again.
  await lab.ssh(target, "nft delete table inet aide");
  expect(summary(await okStep(lab, target, "firewall", "create", vars))).toBe("firewall: create: 1 change(s)");
  expect(await reaches(outsider, target, 9000)).toBe(false);

  expect(summary(await okStep(lab, target, "firewall", "delete", vars))).toMatch(/change\(s\)$/);
  expect(await reachability(outsider)).toEqual(allOpen);
  expect((await lab.ssh(target, "nft list tables")).stdout).not.toContain("aide");
  expect(snapshot(root)).toEqual({});
});
