/**
 * The household's certificate authority and the agent's certificate (lib/certificates.ts):
 * what `npm start -- --https` keeps in its cache directory and `pulumi up` makes for the cluster.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import {
  certificateFits, ensureLocalTls, issueServerCertificate, makeCertificateAuthority, spkiSha256,
} from "../../lib/certificates";

const names = { hostnames: ["aide-01", "localhost"], addresses: ["192.168.1.101", "127.0.0.1"] };

describe("the household's certificates", () => {
  const ca = makeCertificateAuthority("Aide test CA");

  it("signs a server certificate for the agent's names and addresses that verifies against the CA alone", () => {
    const server = issueServerCertificate(ca, names);
    const leaf = new X509Certificate(server.cert);
    expect(leaf.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe("DNS:aide-01, DNS:localhost, IP Address:192.168.1.101, IP Address:127.0.0.1");
    expect(leaf.ca).toBe(false);
    expect(new X509Certificate(ca.cert).ca).toBe(true);
    // Apple refuses a server certificate valid for more than 825 days.
    expect((new Date(leaf.validTo).getTime() - Date.now()) / 86_400_000).toBeLessThanOrEqual(825);
    // The chain a browser needs: leaf, then the CA.
    expect(server.cert.endsWith(ca.cert)).toBe(true);
    expect(certificateFits(server.cert, names)).toBe(true);
    expect(certificateFits(server.cert, { ...names, addresses: ["192.168.1.102"] })).toBe(false);
  });

  it("refuses names that would smuggle options into openssl's extension file, saying which", () => {
    expect(() => issueServerCertificate(ca, { hostnames: ["aide-01,DNS:evil.example"], addresses: [] }))
      .toThrow('cannot make the agent\'s certificate: host name "aide-01,DNS:evil.example" is not a DNS name (letters, digits, dashes, dots)');
    expect(() => issueServerCertificate(ca, { hostnames: [], addresses: ["10.0.0.1\nbasicConstraints=CA:TRUE"] }))
      .toThrow(/address "10\.0\.0\.1\\nbasicConstraints=CA:TRUE" is not an IPv4 or IPv6 address/);
    expect(() => makeCertificateAuthority("/CN=x/O=evil")).toThrow(/CA name .* must be 1-64 letters/);
  });

  it("gives the CA key's hash as Chromium's --ignore-certificate-errors-spki-list wants it (as openssl computes it)", () => {
    const dir = fs.mkdtempSync(join(tmpdir(), "aide-spki-"));
    try {
      fs.writeFileSync(join(dir, "ca.pem"), ca.cert);
      const hash = execFileSync("bash", ["-c", "openssl x509 -in ca.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"], { cwd: dir, encoding: "utf8" }).trim();
      expect(spkiSha256(ca.cert)).toBe(hash);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("npm start -- --https's local CA", () => {
  it("is made once and reused, keys 0600 in a 0700 directory, and the certificate is made again only when the names change", () => {
    const dir = join(fs.mkdtempSync(join(tmpdir(), "aide-local-tls-")), "tls");
    try {
      const first = ensureLocalTls(dir, names);
      expect(first.made).toEqual([`a new certificate authority in ${dir}`, "a certificate for aide-01, localhost, 192.168.1.101, 127.0.0.1"]);
      const ca = fs.readFileSync(first.caFile, "utf8");
      const cert = fs.readFileSync(first.certFile, "utf8");
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      for (const key of [first.keyFile, join(dir, "ca-key.pem")]) expect(fs.statSync(key).mode & 0o777).toBe(0o600);

      expect(ensureLocalTls(dir, names).made).toEqual([]);
      expect(fs.readFileSync(first.certFile, "utf8")).toBe(cert);

      const moved = ensureLocalTls(dir, { ...names, addresses: ["192.168.1.150", "127.0.0.1"] });
      expect(moved.made).toEqual(["a certificate for aide-01, localhost, 192.168.1.150, 127.0.0.1"]);
      expect(fs.readFileSync(first.caFile, "utf8")).toBe(ca); // a phone that trusts it keeps trusting
      expect(new X509Certificate(fs.readFileSync(first.certFile, "utf8")).verify(new X509Certificate(ca).publicKey)).toBe(true);
    } finally {
      fs.rmSync(join(dir, ".."), { recursive: true, force: true });
    }
  });
});
