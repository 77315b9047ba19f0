// infra/scripts/agent-tls.sh in a throwaway root: the agent's certificate, key, CA and
// pairing code arrive byte for byte (shell syntax in them stays data), the key and code
// readable by the agent's user alone, a second run changes nothing, delete removes them.
// @needs root
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { stepProgram } from "../../infra/shell";

function step(op: "create" | "delete", vars: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync("bash", ["-s", "--", op], { input: stepProgram("agent-tls", vars), encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("the agent's certificate on its node", () => {
  const root = fs.mkdtempSync(path.join(tmpdir(), "aide-agent-tls-"));
  const canary = path.join(root, "canary");
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const values = {
    AIDE_ROOT: root,
    AIDE_TLS_DIR: "/var/lib/aide/tls",
    AIDE_TLS_CERT: "-----BEGIN CERTIFICATE-----\nMIIB'$(touch " + canary + ")'\n-----END CERTIFICATE-----\n",
    AIDE_TLS_KEY: "-----BEGIN PRIVATE KEY-----\n`touch " + canary + "`\n-----END PRIVATE KEY-----\n",
    AIDE_TLS_CA: "-----BEGIN CERTIFICATE-----\nCA; touch " + canary + "\n-----END CERTIFICATE-----\n",
    AIDE_PAIRING_CODE: "k7pm-2qxd",
  };

  beforeAll(() => {
    fs.mkdirSync(path.join(root, "etc"));
    fs.writeFileSync(path.join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/bash\naide:x:990:991:Aide:/var/lib/aide:/usr/sbin/nologin\n");
  });

  it("writes each file exactly, key and code 0600 in a 0700 directory, owned by the agent's user", () => {
    const r = step("create", values);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const dir = path.join(root, "var/lib/aide/tls");
    const file = (name: string) => path.join(dir, name);
    expect(fs.readFileSync(file("agent.pem"), "utf8")).toBe(values.AIDE_TLS_CERT);
    expect(fs.readFileSync(file("agent-key.pem"), "utf8")).toBe(values.AIDE_TLS_KEY);
    expect(fs.readFileSync(file("ca.pem"), "utf8")).toBe(values.AIDE_TLS_CA);
    expect(fs.readFileSync(file("pairing-code"), "utf8")).toBe("k7pm-2qxd\n");
    expect(fs.existsSync(canary)).toBe(false);
    const mode = (p: string) => fs.statSync(p).mode & 0o777;
    expect([mode(dir), mode(file("agent-key.pem")), mode(file("pairing-code")), mode(file("agent.pem"))]).toEqual([0o700, 0o600, 0o600, 0o644]);
    for (const p of [dir, file("agent-key.pem"), file("pairing-code")]) expect([fs.statSync(p).uid, fs.statSync(p).gid]).toEqual([990, 991]);
    // The key never reaches the step's output.
    expect(r.stdout).not.toContain("PRIVATE KEY");
    expect(r.stdout).not.toContain("k7pm");
  });

  it("changes nothing the second time", () => {
    const r = step("create", values);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n").pop()).toBe("agent-tls: create: no changes");
  });

  it("refuses to run before the agent's user exists, saying which step makes it", () => {
    const r = step("create", { ...values, AIDE_OWNER: "nobody-here" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("user 'nobody-here' does not exist — the base step creates it");
  });

  it("removes them on destroy", () => {
    expect(step("delete", values).code).toBe(0);
    expect(fs.existsSync(path.join(root, "var/lib/aide/tls"))).toBe(false);
  });
});
