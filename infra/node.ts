// LegacyNode: one old Debian 12 desktop. Facts first, then each provisioning step as a
// remote.Command whose script (infra/scripts/<step>.sh) knows create, update and delete.
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { AideConfig, NodeConfig, NodeFacts } from "./config";
import { stepCommand, stepProgram } from "./shell";

/**
 * Ports only cluster members may reach (TCP; Nomad's serf also on UDP 4648). Nomad's
 * HTTP API (4646) is fenced separately: the control node that runs pulumi may use it.
 */
export const NOMAD_DYNAMIC_PORTS = { min: 20000, max: 32000 }; // llama.cpp RPC workers and llama-server get theirs here
export const CLUSTER_TCP_PORTS = [
  "4647", // Nomad RPC
  "4648", // Nomad serf (gossip)
  "9000-9031", // prima.cpp data ports, 9000 + rank (at most 32 ranks)
  "10000-10031", // prima.cpp signal ports, 10000 + rank
  `${NOMAD_DYNAMIC_PORTS.min}-${NOMAD_DYNAMIC_PORTS.max}`,
];

export type StepVars = Record<string, pulumi.Input<string>>;

export interface LegacyNodeArgs {
  node: NodeConfig;
  config: AideConfig;
  sshPrivateKey: pulumi.Input<string>;
}

/** Parses facts.sh's JSON line; a node that cannot be read is named in the error. */
export function parseFacts(node: string, stdout: string): NodeFacts {
  const line = stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`node ${node}: the facts step printed no JSON — run 'bash infra/scripts/facts.sh' on it to see why`);
  const f = JSON.parse(line) as Omit<NodeFacts, "sse41" | "sse42" | "avx">;
  const flags = new Set(f.cpuFlags);
  return { ...f, sse41: flags.has("sse4_1"), sse42: flags.has("sse4_2"), avx: flags.has("avx") };
}

/** Debian packages the later steps need; prima.cpp also links ZeroMQ (not fio: with -lw no rank profiles). */
export function basePackages(config: AideConfig): string[] {
  const common = ["curl", "ca-certificates", "unzip", "xz-utils", "git", "cmake", "build-essential", "nftables", "systemd-timesyncd"];
  return config.backend === "primacpp" ? [...common, "libzmq3-dev"] : common;
}

/**
 * Swap for the node's RAM: half of it, 2–4 GiB. An 8 GB desktop gets 4 GiB, so a model
 * that only just fits pages out the OS's cold pages instead of meeting the OOM killer.
 */
export function swapMb(ramMb: number): number {
  return Math.min(4096, Math.max(2048, Math.round(ramMb / 2)));
}

export class LegacyNode extends pulumi.ComponentResource {
  readonly name: string;
  readonly node: NodeConfig;
  readonly connection: types.input.remote.ConnectionArgs;
  /** CPU model and flags, cores, RAM, free disk, Debian version — read before anything changes. */
  readonly facts: pulumi.Output<NodeFacts>;
  readonly factsStep: remote.Command;
  /** Packages, time sync, CPU governor and swap: every later step depends on it. */
  readonly base: remote.Command;
  readonly nodejs: remote.Command;
  readonly firewall: remote.Command;

  constructor(name: string, args: LegacyNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("aide:infra:LegacyNode", name, {}, opts);
    this.name = name;
    this.node = args.node;
    const { node, config } = args;
    this.connection = {
      host: node.address,
      port: node.port,
      user: node.user,
      privateKey: args.sshPrivateKey,
      // Old desktops boot slowly after `base` changes the kernel's swap; retry the dial.
      dialErrorLimit: 20,
    };

    this.factsStep = this.step("facts", { AIDE_MIN_DISK_MB: String(config.minDiskFreeMb), AIDE_NODE: node.name }, this);
    this.facts = this.factsStep.stdout.apply((out) => parseFacts(node.name, out));

    const clusterAddresses = config.nodes.map((n) => n.address).join(" ");
    this.base = this.step(
      "base",
      { AIDE_NODE: node.name, AIDE_PACKAGES: basePackages(config).join(" "), AIDE_SWAP_MB: this.facts.apply((f) => String(swapMb(f.ramMb))) },
      this,
      [this.factsStep],
    );
    this.firewall = this.step(
      "firewall",
      { AIDE_CLUSTER_ADDRESSES: clusterAddresses, AIDE_CLUSTER_TCP_PORTS: CLUSTER_TCP_PORTS.join(", ") },
      this,
      [this.base],
    );
    this.nodejs = this.step(
      "nodejs",
      { AIDE_NODEJS_VERSION: config.nodejs.version, AIDE_NODEJS_URL: config.nodejs.url, AIDE_NODEJS_SHA256: config.nodejs.sha256 },
      this,
      [this.base],
    );
    this.registerOutputs({ facts: this.facts });
  }

  /**
   * One provisioning step: `infra/scripts/<script>.sh` sent on stdin with its values
   * quoted. A changed value makes Pulumi run the script's update; destroy runs delete.
   * The step belongs to `owner`: the node for its own steps, else the component that
   * makes it (the Nomad cluster, the distribution).
   */
  step(script: string, vars: StepVars, owner: pulumi.Resource, dependsOn: pulumi.Input<pulumi.Resource>[] = [], name = script): remote.Command {
    const program = pulumi.all(vars).apply((v) => stepProgram(script, v as Record<string, string>));
    // Every step once sat under its node: the alias names it as it was, so a stack made
    // then keeps the step (Pulumi would otherwise replace it, running delete and create).
    const aliases = owner === this ? [] : [{ parent: this }];
    return new remote.Command(
      `${this.name}-${name}`,
      {
        connection: this.connection,
        create: stepCommand("create", this.node.user),
        update: stepCommand("update", this.node.user),
        delete: script === "facts" ? undefined : stepCommand("delete", this.node.user),
        stdin: program,
        // The previous run's output is not needed by any script and may be large.
        addPreviousOutputInEnv: false,
      },
      { parent: owner, dependsOn, aliases },
    );
  }
}
