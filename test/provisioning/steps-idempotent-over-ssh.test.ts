// The provisioning scripts, run for real over SSH on network-namespace hosts: a second
// run changes nothing, delete undoes create, and bad input stops with a clear message.
// @needs netns
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseFacts } from "../../infra/node";
import { createSshHosts, SshLab } from "../support/ssh-hosts";
import { makeZip, okStep, runStep, sha256File, snapshot, summary } from "./steps";

const GOSSIP = Buffer.alloc(32, 9).toString("base64");
let lab: SshLab;
let work: string;

beforeAll(async () => {
  lab = await createSshHosts(2, { prefix: "prstep" });
  work = fs.mkdtempSync(path.join(lab.dir, "work-"));
}, 60_000);
afterAll(async () => {
  await lab?.teardown();
});

describe("node facts over SSH", () => {
  it("reports this machine's CPU flags, cores, RAM and Debian 12 as JSON", async () => {
    const stdout = await okStep(lab, lab.nodes[0], "facts", "create", { AIDE_NODE: "aide-01", AIDE_MIN_DISK_MB: "10" });
    const facts = parseFacts("aide-01", stdout);
    const cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
    expect(facts.cpuFlags).toEqual(/^flags\s*:\s*(.*)$/m.exec(cpuinfo)![1].trim().split(/\s+/));
    expect(facts.avx).toBe(/\bavx\b/.test(cpuinfo));
    expect(facts.cores).toBe((cpuinfo.match(/^processor/gm) ?? []).length);
    expect(facts.ramMb).toBeGreaterThan(500);
    expect(facts.debianVersion).toMatch(/^12/);
    expect(summary(stdout)).toBe("facts: create: no changes");
  });

  it("refuses politely a node that is not Debian 12 or lacks the disk space", async () => {
    const root = path.join(work, "debian11");
    fs.mkdirSync(path.join(root, "etc"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/debian_version"), "11.9\n");
    const old = await runStep(lab, lab.nodes[0], "facts", "create", { AIDE_NODE: "aide-04", AIDE_ROOT: root, AIDE_MIN_DISK_MB: "10" });
    expect(old.code).toBe(1);
    expect(old.stderr).toContain("facts on aide-04: this is not Debian 12 (/etc/debian_version says '11.9')");
    const full = await runStep(lab, lab.nodes[0], "facts", "create", { AIDE_NODE: "aide-05", AIDE_MIN_DISK_MB: "999999999" });
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/facts on aide-05: only \d+ MB free under \/var\/lib; Aide needs 999999999 MB .* set aide:minDiskFreeMb/);
  });
});

describe("the Nomad step over SSH", () => {
  const root = () => path.join(work, "nomad-root");
  let vars: Record<string, string>;
  beforeAll(() => {
    const zip = makeZip(work, "nomad", "#!/bin/sh\necho 'Nomad v1.9.7'\n");
    vars = {
      AIDE_ROOT: root(),
      AIDE_NODE: "aide-01",
      AIDE_ADDRESS: "192.168.1.101",
      AIDE_NOMAD_VERSION: "1.9.7",
      AIDE_NOMAD_URL: `file://${zip}`,
      AIDE_NOMAD_SHA256: sha256File(zip),
      AIDE_NOMAD_DATACENTER: "aide",
      AIDE_NOMAD_MIN_DYNAMIC_PORT: "20000",
      AIDE_NOMAD_MAX_DYNAMIC_PORT: "32000",
      AIDE_NOMAD_SERVER: "true",
      AIDE_NOMAD_SERVERS: "192.168.1.101 192.168.1.102 192.168.1.103",
      AIDE_NOMAD_GOSSIP_KEY: GOSSIP,
      AIDE_META_ROLE: "server",
      AIDE_META_WEBCAM: "false",
      AIDE_META_CPU_FLAGS: "sse4_1",
      AIDE_META_RAM_MB: "7900",
      AIDE_META_CORES: "2",
    };
  });

  it("installs the checksummed binary and a server config, then changes nothing on a second run", async () => {
    const first = await okStep(lab, lab.nodes[0], "nomad", "create", vars);
    expect(summary(first)).toMatch(/^nomad: create: [1-9]\d* change\(s\)$/);
    const hcl = fs.readFileSync(path.join(root(), "etc/nomad.d/nomad.hcl"), "utf8");
    expect(hcl).toContain("bootstrap_expect = 3");
    expect(hcl).toContain("default_scheduler_config { memory_oversubscription_enabled = true }");
    expect(hcl).toContain(`encrypt          = "${GOSSIP}"`);
    expect(hcl).toContain('retry_join = ["192.168.1.101", "192.168.1.102", "192.168.1.103"]');
    expect(hcl).toContain('"aide.cpu_flags" = "sse4_1"');
    // Tasks run as aide (nomad-jobs/common.ts); the client refuses root.
    expect(hcl).toMatch(/plugin "raw_exec" \{\n  config \{\n    enabled += true\n    denied_host_uids = "0"\n    denied_host_gids = "0"\n  \}\n\}/);
    expect((fs.statSync(path.join(root(), "etc/nomad.d/nomad.hcl")).mode & 0o777).toString(8)).toBe("640");
    expect(execFileSync(path.join(root(), "usr/local/bin/nomad"), { encoding: "utf8" })).toContain("Nomad v1.9.7");
    expect(first).not.toContain(GOSSIP);

    const before = snapshot(root());
    const second = await okStep(lab, lab.nodes[0], "nomad", "create", vars);
    expect(summary(second)).toBe("nomad: create: no changes");
    expect(snapshot(root())).toEqual(before);
  });

  it("an update that turns a server into a client rewrites only the config", async () => {
    const out = await okStep(lab, lab.nodes[0], "nomad", "update", { ...vars, AIDE_NOMAD_SERVER: "false", AIDE_META_ROLE: "client" });
    expect(out.split("\n").filter((l) => l.includes(": changed: "))).toEqual(["nomad: changed: /etc/nomad.d/nomad.hcl"]);
    expect(summary(out)).toBe("nomad: update: 1 change(s)");
    // A changed config restarts Nomad (on a node; a test root only reports it).
    expect(out).toContain("nomad: not run in a test root: systemctl restart nomad.service");
    const hcl = fs.readFileSync(path.join(root(), "etc/nomad.d/nomad.hcl"), "utf8");
    expect(hcl).not.toContain("bootstrap_expect");
    expect(hcl).not.toContain(GOSSIP);
  });

  it("refuses a download whose checksum is not the pinned one and installs nothing", async () => {
    const r = await runStep(lab, lab.nodes[1], "nomad", "create", { ...vars, AIDE_ROOT: path.join(work, "nomad-bad"), AIDE_NOMAD_SHA256: "0".repeat(64) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has sha256 [0-9a-f]{64}, but the stack pins 0{64} — fix the pinned checksum/);
    expect(snapshot(path.join(work, "nomad-bad"))).toEqual({});
  });

  it("delete removes everything create put there, and a second delete has nothing to do", async () => {
    const out = await okStep(lab, lab.nodes[0], "nomad", "delete", vars);
    expect(summary(out)).toMatch(/change\(s\)$/);
    expect(snapshot(root())).toEqual({});
    expect(summary(await okStep(lab, lab.nodes[0], "nomad", "delete", vars))).toBe("nomad: delete: no changes");
  });
});

describe("Node.js, the model and the agent over SSH", () => {
  it("a Node.js upgrade replaces the old release, so destroy leaves nothing behind", async () => {
    const root = path.join(work, "node-upgrade");
    const release = (version: string) => {
      const dir = path.join(work, `node-v${version}-linux-x64`);
      fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
      fs.writeFileSync(path.join(dir, "bin/node"), `#!/bin/sh\necho v${version}\n`, { mode: 0o755 });
      const tarball = path.join(work, `node-${version}.tar.xz`);
      execFileSync("tar", ["-cJf", tarball, "-C", work, `node-v${version}-linux-x64`]);
      return { AIDE_ROOT: root, AIDE_NODEJS_VERSION: version, AIDE_NODEJS_URL: `file://${tarball}`, AIDE_NODEJS_SHA256: sha256File(tarball) };
    };
    await okStep(lab, lab.nodes[1], "nodejs", "create", release("20.20.1"));
    const upgrade = await okStep(lab, lab.nodes[1], "nodejs", "update", release("20.20.2"));
    expect(upgrade).toContain("nodejs: changed: removed the replaced /opt/aide/node-v20.20.1");
    expect(upgrade).toContain("nodejs: changed: removed the replaced /var/cache/aide/node-v20.20.1-linux-x64.tar.xz");
    expect(fs.readdirSync(path.join(root, "opt/aide")).sort()).toEqual(["node", "node-v20.20.2"]);
    await okStep(lab, lab.nodes[1], "nodejs", "delete", release("20.20.2"));
    expect(snapshot(root)).toEqual({});
  });

  it("keeps the embeddings model in its own folder beside the LLM's: neither step removes the other's file", async () => {
    const root = path.join(work, "two-models");
    const llm = path.join(work, "llm.gguf");
    const embedding = path.join(work, "minilm.gguf");
    fs.writeFileSync(llm, "GGUF llm weights");
    fs.writeFileSync(embedding, "GGUF embedding weights");
    const llmVars = { AIDE_ROOT: root, AIDE_ROLE: "download", AIDE_MODEL_NAME: "llm.gguf", AIDE_MODEL_URL: `file://${llm}`, AIDE_MODEL_SHA256: sha256File(llm), AIDE_MODEL_DIR: "/var/lib/aide/models" };
    // as infra/distribution.ts sends it: EMBEDDING_MODEL's folder, and where its pin lives
    const embeddingVars = {
      AIDE_ROOT: root, AIDE_ROLE: "download", AIDE_MODEL_NAME: "minilm.gguf", AIDE_MODEL_URL: `file://${embedding}`, AIDE_MODEL_SHA256: sha256File(embedding),
      AIDE_MODEL_DIR: "/var/lib/aide/models/embedding", AIDE_PIN_SOURCE: "scripts/models/catalog.ts (role embedding)",
    };
    await okStep(lab, lab.nodes[1], "model", "create", llmVars);
    await okStep(lab, lab.nodes[1], "model", "create", embeddingVars);
    // an LLM switch clears the LLM's folder of old .gguf files, not the embedder's folder
    expect(summary(await okStep(lab, lab.nodes[1], "model", "update", llmVars))).toBe("model: update: no changes");
    expect(fs.readFileSync(path.join(root, "var/lib/aide/models/embedding/minilm.gguf"), "utf8")).toBe("GGUF embedding weights");
    // a wrong pin names where the embedder's checksum is pinned
    const bad = await runStep(lab, lab.nodes[1], "model", "create", { ...embeddingVars, AIDE_ROOT: path.join(work, "bad-pin"), AIDE_MODEL_SHA256: "0".repeat(64) });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/has sha256 [0-9a-f]{64}, but scripts\/models\/catalog\.ts \(role embedding\) pins 0{64} — fix the pinned checksum there/);
    await okStep(lab, lab.nodes[1], "model", "delete", embeddingVars);
    await okStep(lab, lab.nodes[1], "model", "delete", llmVars);
    expect(snapshot(root)).toEqual({});
  });

  it("each creates once, changes nothing the second time, and delete leaves the root as it was", async () => {
    // A Node.js-shaped tarball (node-vX-linux-x64/bin/node), served by file:// like a mirror.
    const tree = path.join(work, "node-v20.20.2-linux-x64");
    fs.mkdirSync(path.join(tree, "bin"), { recursive: true });
    fs.writeFileSync(path.join(tree, "bin/node"), "#!/bin/sh\necho v20.20.2\n", { mode: 0o755 });
    fs.writeFileSync(path.join(tree, "bin/npm"), "#!/bin/sh\necho 10.8.2\n", { mode: 0o755 });
    const tarball = path.join(work, "node.tar.xz");
    execFileSync("tar", ["-cJf", tarball, "-C", work, "node-v20.20.2-linux-x64"]);
    const model = path.join(work, "tiny.gguf");
    fs.writeFileSync(model, Buffer.from("GGUF fake weights for the copy path"));
    const agentSrc = path.join(work, "agent-src");
    fs.mkdirSync(path.join(agentSrc, "src"), { recursive: true });
    fs.writeFileSync(path.join(agentSrc, "package.json"), '{"name":"@aide/agent","version":"0.1.0"}');
    fs.writeFileSync(path.join(agentSrc, "src/main.ts"), "export {};\n");

    const root = path.join(work, "mixed-root");
    fs.mkdirSync(path.join(root, "opt/aide"), { recursive: true });
    fs.cpSync(agentSrc, path.join(root, "opt/aide/agent.incoming"), { recursive: true });
    const steps: [string, Record<string, string>][] = [
      ["nodejs", { AIDE_NODEJS_VERSION: "20.20.2", AIDE_NODEJS_URL: `file://${tarball}`, AIDE_NODEJS_SHA256: sha256File(tarball) }],
      ["model", { AIDE_ROLE: "download", AIDE_MODEL_NAME: "tiny.gguf", AIDE_MODEL_URL: `file://${model}`, AIDE_MODEL_SHA256: sha256File(model), AIDE_MODEL_DIR: "/var/lib/aide/models" }],
      // npm install needs the registry, which test hosts cannot reach; the copy/swap is real.
      ["agent", { AIDE_AGENT_DIR: "/opt/aide/agent", AIDE_STAMP: "abc123", AIDE_NPM_INSTALL: "0" }],
    ];
    const initial = snapshot(root);
    for (const [script, v] of steps) {
      const vars = { ...v, AIDE_ROOT: root };
      expect(summary(await okStep(lab, lab.nodes[1], script, "create", vars))).toMatch(/change\(s\)$/);
      const after = snapshot(root);
      expect(summary(await okStep(lab, lab.nodes[1], script, "create", vars))).toBe(`${script}: create: no changes`);
      expect(snapshot(root)).toEqual(after);
    }
    // Links are the node's own absolute paths; follow them inside the root.
    expect(fs.readlinkSync(path.join(root, "usr/local/bin/node"))).toBe("/opt/aide/node/bin/node");
    expect(fs.readlinkSync(path.join(root, "opt/aide/node"))).toBe("/opt/aide/node-v20.20.2");
    expect(execFileSync(path.join(root, "opt/aide/node-v20.20.2/bin/node"), { encoding: "utf8" })).toBe("v20.20.2\n");
    expect(fs.readFileSync(path.join(root, "var/lib/aide/models/tiny.gguf"), "utf8")).toContain("GGUF");
    expect(fs.readFileSync(path.join(root, "opt/aide/agent/.aide-stamp"), "utf8")).toBe("abc123");

    // Switching the model removes the old file.
    const other = path.join(work, "other.gguf");
    fs.writeFileSync(other, "GGUF other weights");
    const switched = { ...steps[1][1], AIDE_ROOT: root, AIDE_MODEL_NAME: "other.gguf", AIDE_MODEL_URL: `file://${other}`, AIDE_MODEL_SHA256: sha256File(other) };
    expect(await okStep(lab, lab.nodes[1], "model", "update", switched)).toContain("model: changed: removed the replaced /var/lib/aide/models/tiny.gguf");
    expect(fs.readdirSync(path.join(root, "var/lib/aide/models"))).toEqual(["other.gguf"]);
    await okStep(lab, lab.nodes[1], "model", "update", { ...steps[1][1], AIDE_ROOT: root });

    // A receiving node verifies its copy of the model against the same checksum.
    fs.appendFileSync(path.join(root, "var/lib/aide/models/tiny.gguf"), "bit rot");
    const verify = await runStep(lab, lab.nodes[1], "model", "create", { ...steps[1][1], AIDE_ROOT: root, AIDE_ROLE: "verify" });
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain("/var/lib/aide/models/tiny.gguf has sha256");

    for (const [script, v] of [...steps].reverse()) await okStep(lab, lab.nodes[1], script, "delete", { ...v, AIDE_ROOT: root });
    // Nothing is left that was not there before, the relay's incoming copy included.
    const left = snapshot(root);
    expect(Object.keys(left).filter((k) => !Object.keys(initial).includes(k))).toEqual([]);
    expect(Object.keys(left).filter((k) => k.startsWith("opt/aide/agent.incoming"))).toEqual([]);
  });
});
