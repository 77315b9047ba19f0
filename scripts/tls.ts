/**
 * What `pulumi up` runs (a local command, output kept as a Pulumi secret) to make the
 * household's secrets once and the agent's certificate when its node changes. Prints one
 * JSON line on stdout; takes its inputs from the environment, never the command line, so
 * the CA key is in no process listing.
 *
 *   household                     → {"caCert", "caKey", "pairingCode"}
 *   server   (AIDE_CA_CERT, AIDE_CA_KEY, AIDE_TLS_HOSTNAMES, AIDE_TLS_ADDRESSES: space-separated)
 *                                 → {"cert", "key"}
 */
import { newPairingCode } from "../agent/src/transport/pairing";
import { issueServerCertificate, makeCertificateAuthority } from "../lib/certificates";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is empty: scripts/tls.ts server needs the CA certificate, its key and the agent's names`);
  return value;
}

const words = (name: string) => (process.env[name] ?? "").split(/\s+/).filter(Boolean);

function main(command: string | undefined): unknown {
  if (command === "household") {
    const ca = makeCertificateAuthority("Aide household CA");
    return { caCert: ca.cert, caKey: ca.key, pairingCode: newPairingCode() };
  }
  if (command === "server") {
    return issueServerCertificate({ cert: required("AIDE_CA_CERT"), key: required("AIDE_CA_KEY") }, { hostnames: words("AIDE_TLS_HOSTNAMES"), addresses: words("AIDE_TLS_ADDRESSES") });
  }
  throw new Error(`unknown command ${JSON.stringify(command)}: use household or server`);
}

try {
  process.stdout.write(`${JSON.stringify(main(process.argv[2]))}\n`);
} catch (error) {
  process.stderr.write(`tls: ${(error as Error).message}\n`);
  process.exit(1);
}
