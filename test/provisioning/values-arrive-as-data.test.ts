// Config values that look like shell code travel through the real scripts over SSH and
// arrive as data: nothing they contain is ever run.
// @needs netns
import * as fs from "node:fs";
import * as path from "node:path";
import { stepProgram } from "../../infra/shell";
import { createSshHosts, SshLab } from "../support/ssh-hosts";
import { makeZip, okStep, runStep, sha256File } from "./steps";

let lab: SshLab;
let work: string;
let canary: string;
/** Each tries a different way out of its quotes; each would create a canary file. */
const evil = () => [
  `it's "quoted" $(touch ${canary}/dollar-paren)`,
  "back`touch " + canary + "/backtick`tick",
  `'; touch ${canary}/quote-break; echo '`,
  `two\nlines; touch ${canary}/newline`,
  `\${HOME} %{ if x } \\ "${"$"}{AIDE_NOMAD_GOSSIP_KEY}"`,
];

beforeAll(async () => {
  lab = await createSshHosts(2, { prefix: "prquote" });
  work = fs.mkdtempSync(path.join(lab.dir, "quote-"));
  canary = path.join(work, "canary");
  fs.mkdirSync(canary);
}, 60_000);
afterAll(async () => {
  expect(fs.readdirSync(canary)).toEqual([]);
  await lab?.teardown();
});

/** Reads an HCL string literal back the way Nomad's parser would. */
function unHcl(literal: string): string {
  return JSON.parse(literal.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{"));
}

it("rejects a variable name that is not AIDE_ uppercase, so names are never code", () => {
  expect(() => stepProgram("facts", { "AIDE_X=1; rm -rf /; Y": "v" })).toThrow(/variable name .* must match/);
});

it("a node name full of shell syntax reaches the error message intact", async () => {
  const root = path.join(work, "deb11");
  fs.mkdirSync(path.join(root, "etc"), { recursive: true });
  fs.writeFileSync(path.join(root, "etc/debian_version"), "11.1\n");
  for (const name of evil()) {
    const r = await runStep(lab, lab.nodes[0], "facts", "create", { AIDE_NODE: name, AIDE_ROOT: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`facts on ${name}: this is not Debian 12`);
  }
});

it("Nomad's config holds the values as HCL strings, exactly as given", async () => {
  const zip = makeZip(work, "nomad", "#!/bin/sh\necho nomad\n");
  for (const [i, value] of evil().entries()) {
    const root = path.join(work, `nomad-${i}`);
    await okStep(lab, lab.nodes[1], "nomad", "create", {
      AIDE_ROOT: root, AIDE_NODE: value, AIDE_NOMAD_DATACENTER: value, AIDE_ADDRESS: "10.0.0.1", AIDE_NOMAD_VERSION: "1.9.7", AIDE_NOMAD_MIN_DYNAMIC_PORT: "20000", AIDE_NOMAD_MAX_DYNAMIC_PORT: "32000",
      AIDE_NOMAD_URL: `file://${zip}`, AIDE_NOMAD_SHA256: sha256File(zip), AIDE_NOMAD_SERVER: "true", AIDE_NOMAD_SERVERS: "10.0.0.1",
      AIDE_NOMAD_GOSSIP_KEY: Buffer.alloc(32, 1).toString("base64"), AIDE_META_ROLE: value, AIDE_META_WEBCAM: "false",
      AIDE_META_CPU_FLAGS: "none", AIDE_META_RAM_MB: "1", AIDE_META_CORES: "1",
    });
    const hcl = fs.readFileSync(path.join(root, "etc/nomad.d/nomad.hcl"), "utf8");
    expect(unHcl(/^name\s+= (".*")$/m.exec(hcl)![1])).toBe(value);
    expect(unHcl(/^datacenter = (".*")$/m.exec(hcl)![1])).toBe(value);
    expect(unHcl(/"aide\.role"\s+= (".*")$/m.exec(hcl)![1])).toBe(value);
  }
});

it("file and directory names with quotes, spaces and $() are created literally, copied and removed", async () => {
  const name = `m o'd"el $(touch ${canary}/x) \`id\`.gguf`.replace(/\//g, "_");
  const dir = path.join(work, `models 'dir' $(touch x)`);
  const src = path.join(work, "model-src.gguf");
  fs.writeFileSync(src, "GGUF");
  const vars = { AIDE_ROLE: "download", AIDE_MODEL_NAME: name, AIDE_MODEL_URL: `file://${src}`, AIDE_MODEL_SHA256: sha256File(src), AIDE_MODEL_DIR: dir };
  await okStep(lab, lab.nodes[0], "model", "create", vars);
  expect(fs.readdirSync(dir)).toEqual([name]);

  const to = path.join(work, `copy "to" \`here\``);
  const relay = await lab.onControl(["bash", path.join(__dirname, "../../infra/scripts/relay.sh")], {
    AIDE_SSH_KEY: lab.privateKey, AIDE_KNOWN_HOSTS: path.join(lab.dir, "known_hosts"),
    AIDE_FROM: `root@${lab.nodes[0].address}:22:${dir}`, AIDE_INCLUDE: name,
    AIDE_TO: `root@${lab.nodes[1].address}:22:${to}`, AIDE_SHA256: sha256File(src),
  });
  expect(relay.stderr).toBe("");
  expect(fs.readdirSync(to)).toEqual([name]);

  await okStep(lab, lab.nodes[0], "model", "delete", vars);
  expect(fs.existsSync(dir)).toBe(false);
});
