// Aide's cluster, read as an inventory: these desktops, this cluster, these jobs, these
// endpoints. `pulumi up` runs this file; the config check runs before any resource.
import * as pulumi from "@pulumi/pulumi";
import { loadAideConfig } from "./config";
import { LegacyNode } from "./node";
import { Distribution } from "./distribution";
import { NomadCluster } from "./nomad-cluster";
import { Household } from "./household";
import { agentNode, AGENT_TLS_DIR, Jobs } from "./jobs";
import { LLM_SERVICE } from "../nomad-jobs";

const { config, secrets } = loadAideConfig();

// Every desktop in the stack config, facts first, then its provisioning steps.
const nodes = config.nodes.map((node) => new LegacyNode(node.name, { node, config, sshPrivateKey: secrets.sshPrivateKey }));

// The engine built once per CPU class, the model downloaded once, the agent from here.
const distribution = new Distribution("aide", { nodes, config, sshPrivateKey: secrets.sshPrivateKey });

// Nomad: three servers, every node a client, once each node has what its jobs run.
const cluster = new NomadCluster("aide", {
  nodes,
  config,
  gossipKey: secrets.nomadGossipKey,
  before: Object.fromEntries(
    nodes.map((n) => [n.name, [...distribution.engineReady[n.name], ...distribution.modelReady[n.name], distribution.agentReady[n.name]]]),
  ),
});

// The household's CA and pairing code (secrets in the stack's state), the agent node's
// https certificate, and their files on that node, readable by the agent's user alone.
const agentAt = agentNode(config);
const agentHost = nodes.find((n) => n.name === agentAt.name)!;
const household = new Household("aide", { agentAddress: agentAt.address, agentHostname: agentHost.facts.apply((f) => f.hostname) });
const agentTls = agentHost.step("agent-tls", {
  AIDE_TLS_DIR: AGENT_TLS_DIR,
  AIDE_TLS_CERT: household.agentCertificate,
  AIDE_TLS_KEY: household.agentKey,
  AIDE_TLS_CA: household.caCertificate,
  AIDE_PAIRING_CODE: household.pairingCode,
}, agentHost, [agentHost.base]);

// Jobs: the LLM backend (its layers placed by the planner), the voice agent, its speech
// services (placed away from the LLM) and the benchmark, registered through Nomad's API
// once the cluster is ready.
const jobs = new Jobs("aide", { config, nodes, nomadAddress: cluster.address, dependsOn: [cluster.ready, agentTls] });

export const nomadAddress = cluster.address;
export const nomadUi = pulumi.interpolate`${cluster.address}/ui`;
// llama-server listens on a Nomad dynamic port: Nomad's service catalogue says where.
export const llmService = pulumi.interpolate`${cluster.address}/v1/service/${LLM_SERVICE}`;
// The voice agent runs on the webcam node when there is one (nomad-jobs/voice-agent.ts),
// over https; its plain-http port offers the CA certificate to a device seeing it first.
export const agentPage = `https://${agentAt.address}:${config.agent.port}/`;
export const agentCertificatePage = `http://${agentAt.address}:${config.agent.httpPort}/`;
// What devices install to trust agentPage (also offered on agentCertificatePage).
export const caCertificate = household.caCertificate;
// What a device gives once to talk: pulumi stack output pairingCode --show-secrets
export const pairingCode = household.pairingCode;
export const backend = config.backend;
export const buildPlan = distribution.plan;
export const nodeFacts = pulumi.all(Object.fromEntries(nodes.map((n) => [n.name, n.facts])));
export const layerPlan = jobs.plan;
// Where STT, TTS and the embeddings server run (away from the LLM), and why.
export const servicePlacement = jobs.servicePlacement;
// The jobs' JSON, to run one by hand: pulumi stack output jobSpecs --json | jq .llm > llm.json && nomad job run -json llm.json
export const jobSpecs = jobs.specs;
