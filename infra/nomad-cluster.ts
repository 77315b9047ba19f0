// The Nomad cluster: exactly three servers (a Raft quorum that survives one failure),
// every node a client, gossip encrypted with a key that stays a Pulumi secret.
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { AideConfig } from "./config";
import { LegacyNode, NOMAD_DYNAMIC_PORTS } from "./node";

export interface NomadClusterArgs {
  nodes: LegacyNode[];
  config: AideConfig;
  gossipKey: pulumi.Input<string>;
  /** Per node: steps the client needs before it takes jobs (engine, model, agent). */
  before?: Record<string, pulumi.Resource[]>;
}

export const NOMAD_HTTP_PORT = 4646;

/** Owns each node's Nomad agent and the readiness check (steps run on the nodes). */
export class NomadCluster extends pulumi.ComponentResource {
  readonly agents: remote.Command[];
  /** Succeeds once 3 servers are alive with a leader and every client is ready. */
  readonly ready: remote.Command;
  /** Nomad's HTTP API (and UI) on the first server. */
  readonly address: pulumi.Output<string>;

  constructor(name: string, args: NomadClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("aide:infra:NomadCluster", name, {}, opts);
    const { nodes, config } = args;
    const servers = nodes.filter((n) => n.node.roles.includes("server"));
    const serverAddresses = servers.map((n) => n.node.address).join(" ");

    this.agents = nodes.map((n) =>
      n.step(
        "nomad",
        {
          AIDE_NOMAD_VERSION: config.nomad.version,
          AIDE_NOMAD_URL: config.nomad.url,
          AIDE_NOMAD_SHA256: config.nomad.sha256,
          AIDE_NOMAD_DATACENTER: config.nomad.datacenter,
          AIDE_NOMAD_SERVER: n.node.roles.includes("server") ? "true" : "false",
          AIDE_NOMAD_SERVERS: serverAddresses,
          AIDE_NOMAD_GOSSIP_KEY: args.gossipKey,
          AIDE_NODE: n.node.name,
          // Pinned to the range the firewall fences to the cluster.
          AIDE_NOMAD_MIN_DYNAMIC_PORT: String(NOMAD_DYNAMIC_PORTS.min),
          AIDE_NOMAD_MAX_DYNAMIC_PORT: String(NOMAD_DYNAMIC_PORTS.max),
          AIDE_ADDRESS: n.node.address,
          // Node meta the job placement reads (planner, vision on the webcam node).
          AIDE_META_ROLE: n.node.roles.includes("server") ? "server" : "client",
          AIDE_META_WEBCAM: String(n.node.webcam),
          AIDE_META_CPU_FLAGS: n.facts.apply((f) => [f.sse41 && "sse4_1", f.sse42 && "sse4_2", f.avx && "avx"].filter(Boolean).join(",") || "none"),
          AIDE_META_RAM_MB: n.facts.apply((f) => String(f.ramMb)),
          AIDE_META_CORES: n.facts.apply((f) => String(f.cores)),
        },
        this,
        [n.base, n.firewall, ...(args.before?.[n.name] ?? [])],
      ),
    );

    const first = servers[0];
    this.ready = first.step(
      "nomad-ready",
      { AIDE_EXPECT_SERVERS: String(servers.length), AIDE_EXPECT_CLIENTS: String(nodes.length), AIDE_TIMEOUT_S: "300" },
      this,
      this.agents,
    );
    this.address = pulumi.output(`http://${first.node.address}:${NOMAD_HTTP_PORT}`);
    this.registerOutputs({ address: this.address });
  }
}
