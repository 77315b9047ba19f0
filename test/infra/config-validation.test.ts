import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { parseAideConfig } from "../../infra/config";
import { GOSSIP, SHA, nodes, raw, validStack } from "./stack-fixture";

const secrets = { sshPrivateKey: true, nomadGossipKey: GOSSIP };

/** Stacks a person could write, each with problems whose fixes must fix them. */
const DEGENERATE: Record<string, Record<string, unknown>> = {
  "one node": validStack(1, { nodes: [{ name: "aide-01", address: "192.168.1.101" }] }),
  "two nodes, both servers": validStack(2, { nodes: nodes(2, 2) }),
  "an unknown role on a 4th node": validStack(4, { nodes: [...nodes(3), { name: "aide-04", address: "192.168.1.104", roles: ["controller"] }] }),
  "an unknown role where a server is missing": validStack(3, { nodes: [...nodes(2, 2), { name: "aide-03", address: "192.168.1.103", roles: ["client", "controller"] }] }),
  "a duplicate name whose index names another node": validStack(3, { nodes: [
    { name: "aide-02", address: "192.168.1.101", roles: ["server"] },
    { name: "aide-02", address: "192.168.1.102", roles: ["server"] },
    { name: "aide-03", address: "192.168.1.103", roles: ["server"] },
  ] }),
  "duplicate addresses": validStack(3, { nodes: nodes(3).map((n) => ({ ...n, address: "10.0.0.5" })) }),
  "two webcams": validStack(3, { nodes: nodes(3).map((n, i) => ({ ...n, webcam: i > 0 })) }),
  "an sshUser with quotes": validStack(3, { sshUser: "ro'ot\"; id" }),
  "22 nodes": validStack(22),
  "the everything-wrong stack": validStack(4, { backend: "ollama", nodes: [
    { name: "aide-01", address: "192.168.1.101", roles: ["server"] },
    { name: "aide-01", address: "192.168.1.300", roles: ["server"] },
    { name: "Aide_03", address: "192.168.1.101", port: 70000 },
    { name: "aide-04", address: "192.168.1.104", roles: ["controller"] },
  ] }),
};

describe("stack config validation", () => {
  it("refuses the https page and the certificate page on one port, suggesting a free one", () => {
    const { problems } = parseAideConfig(raw(validStack(3, { agent: { port: 8080 } })), secrets);
    expect(problems).toEqual([{
      key: "agent.httpPort",
      problem: "is 8080, the same as agent.port: the https page and the plain-http certificate page need a port each",
      fix: "pulumi config set --path 'agent.httpPort' 8081",
    }]);
  });

  it("accepts the seed's three-node inventory and fills the defaults", () => {
    const { config, problems } = parseAideConfig(raw(validStack()), secrets);
    expect(problems).toEqual([]);
    expect(config.nodes.map((n) => n.name)).toEqual(["aide-01", "aide-02", "aide-03"]);
    expect(config.servers).toHaveLength(3);
    expect(config.nodes[0]).toMatchObject({ user: "root", port: 22, roles: ["server", "client"], webcam: false });
    expect(config.agent).toMatchObject({ port: 8443, httpPort: 8080, benchmark: false, vad: { threshold: 0.5 } });
    expect(config.nomad.url).toBe("https://releases.hashicorp.com/nomad/1.9.7/nomad_1.9.7_linux_amd64.zip");
  });

  it("lists every problem at once, each with the pulumi config set that fixes it", () => {
    const bad = validStack(4, {
      backend: "ollama",
      nodes: [
        { name: "aide-01", address: "192.168.1.101", roles: ["server"] },
        { name: "aide-01", address: "192.168.1.300", roles: ["server"] },
        { name: "Aide_03", address: "192.168.1.101", port: 70000 },
        { name: "aide-04", address: "192.168.1.104", roles: ["controller"] },
      ],
    });
    const { problems } = parseAideConfig(raw(bad), { sshPrivateKey: false, nomadGossipKey: undefined });
    const byKey = Object.fromEntries(problems.map((p) => [p.key, p]));
    expect(Object.keys(byKey).sort()).toEqual(
      [
        "backend",
        "nodes[1].address",
        "nodes[1].name",
        "nodes[2].name",
        "nodes[2].address",
        "nodes[2].port",
        "nodes[3].roles[0]",
        "nodes[*].roles",
        "sshPrivateKey",
        "nomadGossipKey",
      ].sort(),
    );
    expect(byKey["backend"].fix).toBe("pulumi config set 'backend' llamacpp-rpc");
    expect(byKey["nodes[1].address"].problem).toContain("192.168.1.300");
    expect(byKey["nodes[1].address"].fix).toBe("pulumi config set --path 'nodes[1].address' 192.168.1.102");
    expect(byKey["nodes[1].name"].problem).toContain("already used by nodes[0]");
    expect(byKey["nodes[2].address"].problem).toContain("already used by nodes[0]");
    expect(byKey["nodes[*].roles"].problem).toContain("2 node(s)");
    expect(byKey["nodes[*].roles"].fix).toBe("pulumi config set --path 'nodes[2].roles[0]' server");
    expect(byKey["sshPrivateKey"].fix).toContain("pulumi config set --secret sshPrivateKey");
    for (const p of problems) expect(p.fix).toMatch(/pulumi config (set|rm)/);
  });

  it("refuses fewer than 3 or more than 20 nodes, and more than 3 servers", () => {
    expect(parseAideConfig(raw(validStack(2, { nodes: nodes(2, 2) })), secrets).problems.map((p) => p.problem).join()).toContain("2 node(s) listed");
    expect(parseAideConfig(raw(validStack(21)), secrets).problems.map((p) => p.problem)).toEqual(["21 node(s) listed; Aide needs 3 to 20"]);
    const five = parseAideConfig(raw(validStack(5, { nodes: nodes(5, 5) })), secrets).problems;
    expect(five).toEqual([expect.objectContaining({ key: "nodes[*].roles", fix: "pulumi config rm --path 'nodes[3].roles' && pulumi config rm --path 'nodes[4].roles'" })]);
    expect(parseAideConfig(raw(validStack(20)), secrets).problems).toEqual([]);
  });

  it.each(Object.entries(DEGENERATE))("%s: every suggested fix, applied as printed, leaves no problems", (what, stack) => {
    const { problems } = parseAideConfig(raw(stack), secrets);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.filter((p) => !p.fix.trim())).toEqual([]);
    let fixed = stack;
    for (const p of problems) fixed = applyFix(fixed, p.fix);
    expect(parseAideConfig(raw(fixed), secrets).problems).toEqual([]);
  });

  it("checks sshUser as it checks a node's user, naming the setting", () => {
    const { problems } = parseAideConfig(raw(validStack(3, { sshUser: "ro'ot" })), secrets);
    expect(problems).toEqual([{ key: "sshUser", problem: "\"ro'ot\" is not a Unix user name (the login on every node)", fix: "pulumi config set 'sshUser' root" }]);
  });

  it("asks for the checksums of every pinned download, naming where to find them", () => {
    const { problems } = parseAideConfig(raw(validStack(3, { nomad: { version: "1.9.7" }, model: { name: "m.gguf", url: "http://x/m.gguf", sha256: "nope" } })), secrets);
    expect(problems.map((p) => p.key)).toEqual(["model.sha256", "nomad.sha256"]);
    expect(problems[1].fix).toContain("pulumi config set --path 'nomad.sha256' '<sha256>'");
    expect(problems[1].fix).toContain("nomad_1.9.7_SHA256SUMS");
  });

  it("requires the prima.cpp source only when the backend is primacpp, and no HiGHS (the job's -lw skips its scheduler)", () => {
    const { problems } = parseAideConfig(raw(validStack(3, { backend: "primacpp" })), secrets);
    expect(problems.map((p) => p.key)).toEqual(["primacpp.source.sha256"]);
    const ok = parseAideConfig(raw(validStack(3, { backend: "primacpp", primacpp: { source: { sha256: SHA } } })), secrets);
    expect(ok.problems).toEqual([]);
    expect(ok.config.primacpp?.source.url).toContain("prima.cpp");
  });

  it("never echoes a malformed gossip key, since it is a secret", () => {
    const { problems } = parseAideConfig(raw(validStack()), { sshPrivateKey: true, nomadGossipKey: "hunter2-not-base64" });
    expect(problems).toHaveLength(1);
    expect(JSON.stringify(problems)).not.toContain("hunter2");
  });

  it("quotes values in the suggested fix so pasting it is safe", () => {
    const { problems } = parseAideConfig(raw(validStack(3, { agent: { sttModel: "x'; rm -rf / #" } })), secrets);
    expect(problems[0].key).toBe("agent.sttModel");
    expect(problems[0].problem).toContain("rm -rf");
    expect(problems[0].fix).toBe("pulumi config set --path 'agent.sttModel' moonshine-tiny");
  });

  it("the example stack (Pulumi.dev.yaml) is the seed inventory and lacks only secrets and checksums", () => {
    const stack = parse(fs.readFileSync(path.join(__dirname, "../../Pulumi.dev.yaml"), "utf8")).config as Record<string, unknown>;
    const values = Object.fromEntries(Object.entries(stack).map(([k, v]) => [k.replace(/^aide:/, ""), v]));
    const { config, problems } = parseAideConfig(raw(values), { sshPrivateKey: false, nomadGossipKey: undefined });
    expect(config.nodes.map((n) => `${n.name}@${n.address}`)).toEqual(["aide-01@192.168.1.101", "aide-02@192.168.1.102", "aide-03@192.168.1.103"]);
    expect(problems.map((p) => p.key)).toEqual(["model.sha256", "nomad.sha256", "nodejs.sha256", "sshPrivateKey", "nomadGossipKey"]);
  });
});

/**
 * Applies a printed fix to stack values as Pulumi would: `pulumi config set [--path] 'key' value`
 * and `pulumi config rm [--path] 'key'`, joined by &&, a trailing "(…)" note ignored.
 */
function applyFix(values: Record<string, unknown>, fix: string): Record<string, unknown> {
  const out = JSON.parse(JSON.stringify(values)) as Record<string, unknown>;
  for (const command of fix.replace(/\s{3}\(.*\)$/, "").split(" && ")) {
    const words = [...command.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]);
    const [, , verb, ...rest] = words;
    const args = rest.filter((w) => w !== "--path" && w !== "--secret");
    const steps = args[0].split(/\.|\[(\d+)\]/).filter((x) => x !== undefined && x !== "").map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    let at: Record<string | number, unknown> = out;
    for (const [k, step] of steps.slice(0, -1).entries()) {
      at[step] ??= typeof steps[k + 1] === "number" ? [] : {};
      at = at[step] as Record<string | number, unknown>;
    }
    const last = steps[steps.length - 1];
    if (verb === "set") at[last] = args[1];
    else if (Array.isArray(at) && typeof last === "number") at.splice(last, 1);
    else delete at[last];
  }
  return out;
}
