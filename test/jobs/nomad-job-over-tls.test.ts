// NomadJob against a Nomad API served over HTTPS by a private CA (Nomad's own TLS
// setup): it trusts exactly the CA file it is given, and says what to set when it lacks one.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nomadJobProvider } from "../../infra/nomad-job";
import { llamaCppRpcJob } from "../../nomad-jobs";
import { FakeNomad } from "./support/fake-nomad";
import { rpcArgs } from "./support/fixtures";

const provider = nomadJobProvider as Required<typeof nomadJobProvider>;

/** A CA and a server certificate for 127.0.0.1 signed by it (openssl, as `nomad tls` would make them). */
function makeCa(dir: string): { caFile: string; key: string; cert: string } {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=aide-test-nomad-ca");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=server.global.nomad");
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:server.global.nomad\n");
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext");
  return { caFile: join(dir, "ca.pem"), key: readFileSync(join(dir, "server.key"), "utf8"), cert: readFileSync(join(dir, "server.pem"), "utf8") };
}

describe("NomadJob over TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "aide-nomad-tls-"));
  const ca = makeCa(dir);
  let nomad: FakeNomad;
  let address: string;
  beforeAll(async () => {
    nomad = new FakeNomad();
    address = await nomad.start({ key: ca.key, cert: ca.cert });
  });
  afterAll(() => nomad.stop());

  it("registers the job over HTTPS when given the CA that signed Nomad's certificate", async () => {
    expect(address).toMatch(/^https:\/\//);
    const { id } = await provider.create({ connection: { address, caFile: ca.caFile }, spec: llamaCppRpcJob(rpcArgs()), waitSeconds: 20 });
    expect(id).toBe("aide-llm");
    expect(nomad.requests.some((r) => r.method === "POST" && r.path === "/v1/jobs")).toBe(true);
  });

  it("refuses a certificate it cannot verify, and says to set caFile", async () => {
    await expect(provider.create({ connection: { address }, spec: llamaCppRpcJob(rpcArgs()), waitSeconds: 5 }))
      .rejects.toThrow(/^Nomad at https:\/\/127\.0\.0\.1:\d+: POST \/v1\/jobs failed: [A-Z_]+ — set caFile to the CA that signed Nomad's certificate$/);
  });

  it("names a CA file that cannot be read", async () => {
    await expect(provider.create({ connection: { address, caFile: join(dir, "missing.pem") }, spec: llamaCppRpcJob(rpcArgs()), waitSeconds: 5 }))
      .rejects.toThrow(`Nomad CA file ${join(dir, "missing.pem")} cannot be read (ENOENT): point caFile at the CA certificate (PEM) that signed Nomad's HTTPS certificate`);
  });
});
