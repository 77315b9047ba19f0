/**
 * The household's own certificate authority and the agent's https certificate, made with
 * the `openssl` CLI (Debian's; .ci/apt-packages): Node's crypto makes keys but not X.509
 * certificates. Used by `npm start -- --https` (a CA in the cache directory, reused) and by
 * `pulumi up` (the cluster's CA, its key a Pulumi secret).
 *
 * Keys pass through files only inside a private temporary directory (0700, keys 0600)
 * that is removed before returning; nothing is passed on a command line but file names
 * and names already checked to be plain host names or addresses.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, createHash, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface KeyPair {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (a secret). */
  key: string;
}

/** Who the agent's certificate is for: the names and addresses a browser will use. */
export interface ServerNames {
  hostnames: string[];
  addresses: string[];
}

/** Server certificates: Apple's limit for a certificate a device trusts through a user-installed CA. */
const SERVER_DAYS = 825;
const CA_DAYS = 3650;
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

function checkNames(names: ServerNames): void {
  const bad = [
    ...names.hostnames.filter((h) => !HOSTNAME.test(h)).map((h) => `host name ${JSON.stringify(h)} is not a DNS name (letters, digits, dashes, dots)`),
    ...names.addresses.filter((a) => isIP(a) === 0).map((a) => `address ${JSON.stringify(a)} is not an IPv4 or IPv6 address`),
  ];
  if (names.hostnames.length + names.addresses.length === 0) bad.push("no host name or address: a certificate must name at least one");
  if (bad.length) throw new Error(`cannot make the agent's certificate: ${bad.join("; ")}`);
}

/** Runs `fn` with a private scratch directory for openssl, removed afterwards whatever happens. */
function inScratch<T>(fn: (dir: string, openssl: (...args: string[]) => void) => T): T {
  const dir = fs.mkdtempSync(join(tmpdir(), "aide-tls-"));
  fs.chmodSync(dir, 0o700);
  const openssl = (...args: string[]) => {
    try {
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, OPENSSL_CONF: "/dev/null" } });
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === "ENOENT") throw new Error("openssl is not installed: apt-get install openssl (scripts/setup.sh installs it)");
      throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
    }
  };
  try {
    return fn(dir, openssl);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A new CA named `name` (shown on devices as the authority they trust). */
export function makeCertificateAuthority(name: string): KeyPair {
  if (!/^[\w .-]{1,64}$/.test(name)) throw new Error(`CA name ${JSON.stringify(name)} must be 1-64 letters, digits, spaces, dots or dashes`);
  return inScratch((dir, openssl) => {
    openssl("req", "-x509", ...ecKey, "-keyout", "ca.key", "-out", "ca.pem", "-days", String(CA_DAYS), "-subj", `/CN=${name}`,
      "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    return { cert: fs.readFileSync(join(dir, "ca.pem"), "utf8"), key: fs.readFileSync(join(dir, "ca.key"), "utf8") };
  });
}

/** A server certificate for `names`, signed by `ca`, with its chain (leaf, then the CA). */
export function issueServerCertificate(ca: KeyPair, names: ServerNames): KeyPair {
  checkNames(names);
  return inScratch((dir, openssl) => {
    fs.writeFileSync(join(dir, "ca.pem"), ca.cert);
    fs.writeFileSync(join(dir, "ca.key"), ca.key, { mode: 0o600 });
    const san = [...names.hostnames.map((h) => `DNS:${h}`), ...names.addresses.map((a) => `IP:${a}`)].join(",");
    fs.writeFileSync(join(dir, "ext.cnf"), [
      `subjectAltName=${san}`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
    ].join("\n") + "\n");
    openssl("req", "-new", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${names.hostnames[0] ?? names.addresses[0]}`);
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", `0x${randomBytes(16).toString("hex")}`,
      "-days", String(SERVER_DAYS), "-extfile", "ext.cnf", "-out", "server.pem");
    return { cert: fs.readFileSync(join(dir, "server.pem"), "utf8") + ca.cert, key: fs.readFileSync(join(dir, "server.key"), "utf8") };
  });
}

/** base64 SHA-256 of the certificate's public key: what Chromium's --ignore-certificate-errors-spki-list takes. */
export function spkiSha256(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

/** True when `certPem` names exactly these hosts and addresses and is good for 30 more days. */
export function certificateFits(certPem: string, names: ServerNames): boolean {
  const cert = new X509Certificate(certPem);
  if (new Date(cert.validTo).getTime() - Date.now() < 30 * 86_400_000) return false;
  const have = (cert.subjectAltName ?? "").split(", ").filter(Boolean).map((s) => s.replace(/^IP Address:/, "IP:")).sort();
  const want = [...names.hostnames.map((h) => `DNS:${h}`), ...names.addresses.map((a) => `IP:${a}`)].sort();
  return JSON.stringify(have) === JSON.stringify(want);
}

export interface LocalTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** What happened, for one line of output. */
  made: string[];
}

/**
 * `npm start -- --https`: the CA in `dir` (made the first time, then reused, so a phone
 * trusts it once) and a certificate for `names`, made again only when the names change
 * or it nears its end. Keys are 0600 in a 0700 directory.
 */
export function ensureLocalTls(dir: string, names: ServerNames): LocalTls {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const file = (name: string) => join(dir, name);
  const made: string[] = [];
  let ca: KeyPair;
  if (fs.existsSync(file("ca.pem")) && fs.existsSync(file("ca-key.pem"))) {
    ca = { cert: fs.readFileSync(file("ca.pem"), "utf8"), key: fs.readFileSync(file("ca-key.pem"), "utf8") };
  } else {
    ca = makeCertificateAuthority("Aide household CA");
    writePrivate(file("ca-key.pem"), ca.key);
    fs.writeFileSync(file("ca.pem"), ca.cert);
    made.push(`a new certificate authority in ${dir}`);
  }
  const current = fs.existsSync(file("server.pem")) && fs.existsSync(file("server-key.pem")) ? fs.readFileSync(file("server.pem"), "utf8") : undefined;
  if (!current || !certificateFits(current, names)) {
    const server = issueServerCertificate(ca, names);
    writePrivate(file("server-key.pem"), server.key);
    fs.writeFileSync(file("server.pem"), server.cert);
    made.push(`a certificate for ${[...names.hostnames, ...names.addresses].join(", ")}`);
  }
  for (const key of ["ca-key.pem", "server-key.pem"]) fs.chmodSync(file(key), 0o600);
  return { caFile: file("ca.pem"), certFile: file("server.pem"), keyFile: file("server-key.pem"), made };
}

/** Writes a key readable by its owner alone, from the first byte on. */
export function writePrivate(path: string, text: string): void {
  fs.rmSync(path, { force: true });
  fs.writeFileSync(path, text, { mode: 0o600 });
}
