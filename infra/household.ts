// The household's own certificate authority and pairing code, made once by `pulumi up`
// and kept in the stack's state as secrets (never in a file in the repository, never in
// a log: the commands' output is not logged and is marked secret), and the agent node's
// https certificate, made again when the node's address or host name changes.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { local } from "@pulumi/command";
import { shq } from "./shell";

const REPO = path.join(__dirname, "..");
/** scripts/tls.ts under the same Node.js and ts-node that run this program. */
const tlsCommand = (what: string) =>
  `${shq(process.execPath)} -r ts-node/register/transpile-only ${shq(path.join(REPO, "scripts", "tls.ts"))} ${what}`;

export interface HouseholdArgs {
  /** The agent's node as browsers reach it. */
  agentAddress: pulumi.Input<string>;
  agentHostname: pulumi.Input<string>;
}

export class Household extends pulumi.ComponentResource {
  /** PEM: what devices install to trust the agent's page. */
  readonly caCertificate: pulumi.Output<string>;
  /** Secret: what a device must give to talk. */
  readonly pairingCode: pulumi.Output<string>;
  /** The agent's certificate chain (PEM) and its key (secret). */
  readonly agentCertificate: pulumi.Output<string>;
  readonly agentKey: pulumi.Output<string>;

  constructor(name: string, args: HouseholdArgs, opts?: pulumi.ComponentResourceOptions) {
    super("aide:infra:Household", name, {}, opts);
    const secretJson = <T>(command: local.Command, what: string) =>
      pulumi.secret(command.stdout.apply((out) => {
        try {
          return JSON.parse(out) as T;
        } catch {
          throw new Error(`${what}: scripts/tls.ts printed no JSON — run it by hand to see why (is openssl installed?)`);
        }
      }));
    // The command line names this checkout and this Node.js: moving either must not make a
    // new CA (every device would have to trust it again) or a new pairing code.
    const options = { parent: this, additionalSecretOutputs: ["stdout"], ignoreChanges: ["create", "dir"] };

    // Made once: a new CA would make every device install it again, a new code pair again.
    const secrets = new local.Command(`${name}-ca-and-pairing-code`, {
      create: tlsCommand("household"),
      dir: REPO,
      logging: "none",
    }, options);
    const household = secretJson<{ caCert: string; caKey: string; pairingCode: string }>(secrets, "the household CA");
    // The CA certificate is public: devices download it.
    this.caCertificate = pulumi.unsecret(household.apply((h) => h.caCert));
    this.pairingCode = pulumi.secret(household.apply((h) => h.pairingCode));

    const names = pulumi.all([args.agentAddress, args.agentHostname]);
    const server = new local.Command(`${name}-agent-certificate`, {
      create: tlsCommand("server"),
      dir: REPO,
      logging: "none",
      environment: {
        AIDE_CA_CERT: this.caCertificate,
        AIDE_CA_KEY: household.apply((h) => h.caKey),
        AIDE_TLS_ADDRESSES: names.apply(([address]) => address),
        AIDE_TLS_HOSTNAMES: names.apply(([, hostname]) => hostname),
      },
      // A new certificate when the agent moves or the node is renamed; the CA stays.
      triggers: [names],
    }, options);
    const issued = secretJson<{ cert: string; key: string }>(server, "the agent's certificate");
    this.agentCertificate = pulumi.unsecret(issued.apply((c) => c.cert));
    this.agentKey = pulumi.secret(issued.apply((c) => c.key));
    this.registerOutputs({ caCertificate: this.caCertificate });
  }
}
