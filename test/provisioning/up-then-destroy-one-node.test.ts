// What `pulumi up` then `pulumi destroy` do to one desktop, for real over SSH, inside a
// throwaway Debian 12 root: every step in the program's order, then every delete in
// reverse — and the machine is left as it was found.
// @needs netns, debootstrap
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { AGENT_DIR, ENGINE_PREFIX, MODEL_DIR } from "../../infra/distribution";
import { CLUSTER_TCP_PORTS } from "../../infra/node";
import { createSshHosts, SshLab } from "../support/ssh-hosts";
import { copyDebianRoot } from "./debian-root";
import { makeZip, okStep, sha256File, snapshot, summary } from "./steps";
import { buildAgent } from "../../scripts/build-agent";

const PACKAGES = ["unzip", "nftables", "systemd-timesyncd"];
const REPO = path.join(__dirname, "../..");
let lab: SshLab;
let root: string;
let work: string;

beforeAll(async () => {
  lab = await createSshHosts(1, { prefix: "prdestr" });
  // Like a desktop's net-install: systemd and its time sync are already there.
  root = copyDebianRoot(path.join(lab.dir, "debian"), PACKAGES, ["systemd-timesyncd"]);
  work = fs.mkdtempSync(path.join(lab.dir, "work-"));
  await buildAgent(); // agent/dist, what the agent relay copies (pulumi up builds it the same way)
}, 30 * 60_000);
afterAll(async () => {
  await lab?.teardown();
});

/** Files apt and dpkg rewrite as bookkeeping (logs, caches, status backups), and the
 * backups useradd/userdel keep of the user database (base adds and removes the aide user). */
const BOOKKEEPING = /^(etc\/(passwd|group|shadow|gshadow)-$|var\/log\/|var\/cache\/(apt|debconf|ldconfig)\/|var\/lib\/(apt|dpkg|systemd\/deb-systemd-helper|ucf)\/|etc\/ld\.so\.cache$|\.aide-debs)/;
const lasting = (snap: Record<string, string>) => Object.fromEntries(Object.entries(snap).filter(([k]) => !BOOKKEEPING.test(k)));

it("creates every step in order, a second up changes nothing, and destroy leaves the root as it was", async () => {
  const node = lab.nodes[0];
  const llamaBin = path.join(execFileSync("bash", ["scripts/build-llama.sh", "--print-prefix"], { cwd: REPO, encoding: "utf8" }).trim(), "bin");
  const tree = path.join(work, "node-v20.20.2-linux-x64/bin");
  fs.mkdirSync(tree, { recursive: true });
  fs.writeFileSync(path.join(tree, "node"), "#!/bin/sh\necho v20.20.2\n", { mode: 0o755 });
  const nodeTar = path.join(work, "node.tar.xz");
  execFileSync("tar", ["-cJf", nodeTar, "-C", work, "node-v20.20.2-linux-x64"]);
  const nomadZip = makeZip(work, "nomad", "#!/bin/sh\necho 'Nomad v1.9.7'\n");
  const model = path.join(work, "tiny.gguf");
  fs.writeFileSync(model, "GGUF tiny");
  // The control node's speech models, laid out as `npm run models -- download` leaves them.
  const speechDir = path.join(work, "speech");
  fs.mkdirSync(path.join(speechDir, "stt/moonshine-tiny"), { recursive: true });
  fs.writeFileSync(path.join(speechDir, "stt/moonshine-tiny/tokens.txt"), "a 0\n");
  fs.writeFileSync(path.join(speechDir, "manifest.json"), '{"version":1,"models":[]}');

  const common = { AIDE_ROOT: root, AIDE_CHROOT: "1", AIDE_NODE: "aide-01" };
  const relay = (env: Record<string, string>) =>
    lab.onControl(["bash", path.join(REPO, "infra/scripts/relay.sh")], { AIDE_SSH_KEY: lab.privateKey, AIDE_KNOWN_HOSTS: path.join(lab.dir, "kh"), ...env });
  const to = (dir: string) => `root@${node.address}:22:${root}${dir}`;
  // The node's steps in the order LegacyNode, Distribution and NomadCluster chain them.
  const steps: [string, Record<string, string>][] = [
    ["facts", { AIDE_MIN_DISK_MB: "100" }],
    ["base", { AIDE_PACKAGES: PACKAGES.join(" "), AIDE_SWAP_MB: "8" }],
    ["firewall", { AIDE_CLUSTER_ADDRESSES: node.address, AIDE_CLUSTER_TCP_PORTS: CLUSTER_TCP_PORTS.join(", ") }],
    ["nodejs", { AIDE_NODEJS_VERSION: "20.20.2", AIDE_NODEJS_URL: `file://${nodeTar}`, AIDE_NODEJS_SHA256: sha256File(nodeTar) }],
    ["model", { AIDE_ROLE: "download", AIDE_MODEL_NAME: "tiny.gguf", AIDE_MODEL_URL: `file://${model}`, AIDE_MODEL_SHA256: sha256File(model), AIDE_MODEL_DIR: MODEL_DIR }],
    ["relay:speech", { AIDE_FROM: `local:${speechDir}`, AIDE_INCLUDE: "manifest.json\nstt", AIDE_TO: to(MODEL_DIR) }],
    ["speech-models", { AIDE_MODEL_DIR: MODEL_DIR, AIDE_INCLUDE: "manifest.json\nstt" }],
    ["relay:agent", { AIDE_FROM: `local:${path.join(REPO, "agent")}`, AIDE_INCLUDE: "package.json\ndist", AIDE_TO: to(`${AGENT_DIR}.incoming`) }],
    ["agent", { AIDE_AGENT_DIR: AGENT_DIR, AIDE_STAMP: "s1", AIDE_NPM_INSTALL: "0" }],
    ["agent-tls", {
      AIDE_TLS_DIR: "/var/lib/aide/tls", AIDE_TLS_CERT: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
      AIDE_TLS_KEY: "-----BEGIN PRIVATE KEY-----\ny\n-----END PRIVATE KEY-----\n", AIDE_TLS_CA: "-----BEGIN CERTIFICATE-----\nz\n-----END CERTIFICATE-----\n", AIDE_PAIRING_CODE: "k7pm-2qxd",
    }],
    ["relay:engine", { AIDE_FROM: `local:${path.dirname(llamaBin)}`, AIDE_INCLUDE: "bin", AIDE_TO: to(ENGINE_PREFIX) }],
    ["llama", { AIDE_ROLE: "receive", AIDE_CPU_CLASS: "core2-test", AIDE_PREFIX: ENGINE_PREFIX, AIDE_SRC: "/var/lib/aide/src", AIDE_PROFILE: "core2" }],
    ["nomad", {
      AIDE_ADDRESS: node.address, AIDE_NOMAD_VERSION: "1.9.7", AIDE_NOMAD_URL: `file://${nomadZip}`, AIDE_NOMAD_SHA256: sha256File(nomadZip),
      AIDE_NOMAD_DATACENTER: "aide", AIDE_NOMAD_SERVER: "true", AIDE_NOMAD_SERVERS: node.address, AIDE_NOMAD_GOSSIP_KEY: Buffer.alloc(32, 3).toString("base64"),
      AIDE_NOMAD_MIN_DYNAMIC_PORT: "20000", AIDE_NOMAD_MAX_DYNAMIC_PORT: "32000",
      AIDE_META_ROLE: "server", AIDE_META_WEBCAM: "false", AIDE_META_CPU_FLAGS: "sse4_1", AIDE_META_RAM_MB: "7900", AIDE_META_CORES: "2",
    }],
  ];
  const run = async (op: "create" | "delete", [name, vars]: [string, Record<string, string>]) => {
    if (name.startsWith("relay:")) {
      if (op === "delete") return "relay: delete: no changes (the node step owns the copy)";
      const r = await relay(vars);
      if (r.code !== 0) throw new Error(`${name}: ${r.stderr}`);
      return r.stdout;
    }
    return okStep(lab, node, name, op, { ...common, ...vars });
  };

  const before = lasting(snapshot(root));
  const packagesBefore = execFileSync("chroot", [root, "dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\\n"], { encoding: "utf8" });
  for (const s of steps) await run("create", s);
  const up = lasting(snapshot(root));
  for (const f of ["var/lib/aide/tls/agent-key.pem", "opt/aide/engine/bin/llama-server", "opt/aide/agent/package.json", "var/lib/aide/models/tiny.gguf", "var/lib/aide/models/manifest.json", "var/lib/aide/models/stt/moonshine-tiny/tokens.txt", "etc/nomad.d/nomad.hcl", "etc/aide/firewall.nft", "usr/local/bin/nomad"]) {
    expect(up[f]).toBeDefined();
  }
  // The engine in the root is the CI build, byte for byte, and runs.
  expect(sha256File(path.join(root, "opt/aide/engine/bin/llama-server"))).toBe(sha256File(path.join(llamaBin, "llama-server")));
  const version = spawnSync(path.join(root, "opt/aide/engine/bin/llama-server"), ["--version"], { encoding: "utf8", timeout: 30_000 });
  expect(version.stdout + version.stderr).toMatch(/version: \d+/);

  // A second `pulumi up` with nothing changed: every step says so.
  for (const s of steps) expect(summary(await run("create", s))).toMatch(/: create: no changes$/);
  expect(lasting(snapshot(root))).toEqual(up);

  // `pulumi destroy`: deletes in reverse dependency order.
  for (const s of [...steps].reverse()) await run("delete", s);
  expect(lasting(snapshot(root))).toEqual(before);
  expect(execFileSync("chroot", [root, "dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\\n"], { encoding: "utf8" })).toBe(packagesBefore);
}, 20 * 60_000);
