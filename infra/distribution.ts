// What is built or downloaded once and copied to the other nodes: the LLM engine (once
// per CPU class — a 20-minute build is not repeated on every desktop), the model files
// (once per cluster), and the speech models and agent package (from this control node).
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { local, remote } from "@pulumi/command";
import { AideConfig, NodeFacts } from "./config";
import { LegacyNode, StepVars } from "./node";
import { SCRIPTS_DIR, shq } from "./shell";
import { defaultModelDir } from "../agent/src/models/manifest";
import { CATALOG } from "../scripts/models/catalog";
import { agentSourceHash } from "../scripts/build-agent";

export type LlamaProfile = "core2" | "sse2" | "native";

/** build-llama.sh's profile for a CPU: native only with AVX, core2 needs SSSE3. */
export function llamaProfile(facts: NodeFacts): LlamaProfile {
  if (facts.avx) return "native";
  return facts.cpuFlags.includes("ssse3") ? "core2" : "sse2";
}

/** Nodes with the same CPU flags share one build: the class key is the flag set. */
export function cpuClass(facts: NodeFacts): string {
  const flags = [...new Set(facts.cpuFlags)].sort().join(" ");
  return `${llamaProfile(facts)}-${crypto.createHash("sha256").update(flags).digest("hex").slice(0, 10)}`;
}

export interface BuildPlan {
  /** node name → the node that builds its engine (itself when it is the builder). */
  builderOf: Record<string, string>;
  classOf: Record<string, string>;
}

/** The first node (in stack order) of each CPU class builds; the rest receive a copy. */
export function planBuilds(nodes: { name: string; facts: NodeFacts }[]): BuildPlan {
  const builderOfClass = new Map<string, string>();
  const plan: BuildPlan = { builderOf: {}, classOf: {} };
  for (const n of nodes) {
    const cls = cpuClass(n.facts);
    if (!builderOfClass.has(cls)) builderOfClass.set(cls, n.name);
    plan.builderOf[n.name] = builderOfClass.get(cls)!;
    plan.classOf[n.name] = cls;
  }
  return plan;
}

const REPO = path.join(__dirname, "..");
const SPEECH_ROLES = ["stt", "tts", "vad", "yolo"];

/** The control node's speech models: manifest.json and the role folders present. */
function speechModels(): { dir: string; include: string; stamp: string } {
  const dir = defaultModelDir(); // where `npm run models -- download` put them
  if (!fs.existsSync(path.join(dir, "manifest.json"))) return { dir, include: "", stamp: "" };
  const parts = ["manifest.json", ...SPEECH_ROLES.filter((r) => fs.existsSync(path.join(dir, r)))];
  return { dir, include: parts.join("\n"), stamp: treeHash(dir, parts) };
}
const NODE_SRC = "/var/lib/aide/src";
export const ENGINE_PREFIX = "/opt/aide/engine";
export const MODEL_DIR = "/var/lib/aide/models";
export const AGENT_DIR = "/opt/aide/agent";

/** A model file pinned by its checksum, and the directory it goes to on every node. */
export interface PinnedModel {
  name: string;
  url: string;
  sha256: string;
  dir: string;
}

/** Long-term memory's embedder (the aide-embeddings job serves it): the catalog's pinned
 * file, in its own folder beside the LLM's (model.sh keeps one .gguf per folder). */
export const EMBEDDING_MODEL: PinnedModel = (() => {
  const file = CATALOG.find((m) => m.role === "embedding")?.files[0];
  if (!file?.sha256) throw new Error("scripts/models/catalog.ts has no pinned embedding model (role embedding, with a sha256): the cluster's long-term memory needs one");
  const [folder, name] = [path.posix.dirname(file.path), path.posix.basename(file.path)];
  return { name, url: file.url, sha256: file.sha256, dir: `${MODEL_DIR}/${folder}` };
})();

/** A content hash of a tree, so a changed agent source is copied again. */
export function treeHash(dir: string, include: string[]): string {
  const h = crypto.createHash("sha256");
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    else h.update(path.relative(dir, p)).update("\0").update(fs.readFileSync(p));
  };
  for (const i of include) walk(path.join(dir, i));
  return h.digest("hex").slice(0, 16);
}

function sshTarget(n: LegacyNode, dir: string): string {
  return `${n.node.user}@${n.node.address}:${n.node.port}:${dir}`;
}

export interface DistributionArgs {
  nodes: LegacyNode[];
  config: AideConfig;
  sshPrivateKey: pulumi.Input<string>;
}

/** Owns what puts the engine, the models and the agent on every node: the relays that
 * copy them from here or another node, and the steps on the nodes that build, verify and
 * install them. Each of the four is one method below. */
export class Distribution extends pulumi.ComponentResource {
  readonly plan: pulumi.Output<BuildPlan>;
  /** Per node: the step after which its engine binaries are in place. */
  readonly engineReady: Record<string, pulumi.Resource[]> = {};
  /** Per node: the LLM's model and the embeddings model are in place and verified. */
  readonly modelReady: Record<string, pulumi.Resource[]> = {};
  /** Per node: the agent package (compiled) and the speech models are in place. */
  readonly agentReady: Record<string, pulumi.Resource> = {};
  private readonly sshPrivateKey: pulumi.Input<string>;

  constructor(name: string, args: DistributionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("aide:infra:Distribution", name, {}, opts);
    const { nodes, config } = args;
    this.sshPrivateKey = args.sshPrivateKey;
    this.plan = pulumi.all(nodes.map((n) => n.facts)).apply((facts) => planBuilds(nodes.map((n, i) => ({ name: n.name, facts: facts[i] }))));
    this.distributeEngine(nodes, config);
    this.distributeModels(nodes, config);
    const speechReady = this.distributeSpeechModels(nodes);
    this.distributeAgent(nodes, speechReady);
    this.registerOutputs({ plan: this.plan });
  }

  /** relay.sh run here: streams a tree from this machine or another node to a node. */
  private relay(resource: string, env: StepVars, dependsOn: pulumi.Resource[]): local.Command {
    return new local.Command(
      resource,
      {
        create: `bash ${shq(path.join(SCRIPTS_DIR, "relay.sh"))}`,
        environment: { ...env, AIDE_SSH_KEY: this.sshPrivateKey },
        // Runs again when what it copies changes, and never logs the key.
        triggers: [env.AIDE_FROM, env.AIDE_SHA256 ?? "", env.AIDE_STAMP ?? ""],
      },
      { parent: this, dependsOn },
    );
  }

  /** 1. The engine, built once per CPU class. Its source goes only to builders: llama.cpp's
   * bundle and the same build script CI uses; prima.cpp is fetched by the node from its
   * pinned tarball. Receivers copy the build from their class's builder. */
  private distributeEngine(nodes: LegacyNode[], config: AideConfig): void {
    const isBuilder = (n: LegacyNode) => this.plan.apply((p) => p.builderOf[n.name] === n.name);
    const engineScript = config.backend === "primacpp" ? "primacpp" : "llama";
    // What the engine is built from: a new source rebuilds on builders and re-copies to
    // the rest (llama.cpp's bundle changes only with node-llama-cpp's version).
    const engineSource = config.primacpp
      ? config.primacpp.source.sha256.slice(0, 16)
      : treeHash(REPO, ["scripts/build-llama.sh", "node_modules/node-llama-cpp/package.json"]);
    const builds = nodes.map((n) => {
      const source =
        config.backend === "llamacpp-rpc"
          ? [
              this.relay(`${n.name}-llama-source`, {
                AIDE_FROM: isBuilder(n).apply((b) => (b ? `local:${REPO}` : "")),
                AIDE_INCLUDE: "node_modules/node-llama-cpp/llama/gitRelease.bundle\nscripts/build-llama.sh",
                AIDE_TO: sshTarget(n, NODE_SRC),
                AIDE_SKIP_REASON: "another node of this CPU class builds the engine",
                AIDE_STAMP: engineSource,
              }, [n.base]),
            ]
          : [];
      const vars: StepVars = {
        AIDE_ROLE: isBuilder(n).apply((b) => (b ? "build" : "receive")),
        AIDE_CPU_CLASS: this.plan.apply((p) => p.classOf[n.name]),
        AIDE_PREFIX: ENGINE_PREFIX,
        AIDE_SRC: NODE_SRC,
        AIDE_PROFILE: n.facts.apply(llamaProfile),
        AIDE_SOURCE_STAMP: engineSource,
      };
      if (config.primacpp) {
        Object.assign(vars, {
          AIDE_PRIMA_URL: config.primacpp.source.url,
          AIDE_PRIMA_SHA256: config.primacpp.source.sha256,
        });
      }
      return n.step(engineScript, vars, this, [n.base, ...source]);
    });
    nodes.forEach((n, i) => {
      // Receivers wait for every build (builders are only known once facts are in).
      const copy = this.relay(`${n.name}-engine-copy`, {
        AIDE_FROM: this.plan.apply((p) => {
          const b = nodes.find((x) => x.name === p.builderOf[n.name])!;
          return b === n ? "" : sshTarget(b, ENGINE_PREFIX);
        }),
        AIDE_TO: sshTarget(n, ENGINE_PREFIX),
        AIDE_STAMP: this.plan.apply((p) => `${p.classOf[n.name]} ${engineSource}`),
        AIDE_SKIP_REASON: "this node built its engine itself",
      }, builds);
      this.engineReady[n.name] = [builds[i], copy];
    });
  }

  /** 2. The models: the LLM's and long-term memory's embedder, each downloaded once by the
   * first Nomad server, copied to the rest, and its sha256 checked on every node (every
   * node holds both, so Nomad may move the LLM or the embeddings server anywhere). */
  private distributeModels(nodes: LegacyNode[], config: AideConfig): void {
    const source = nodes.find((n) => n.node.roles.includes("server")) ?? nodes[0];
    const distributeModel = (step: string, file: PinnedModel, pinnedIn?: string) => {
      const modelVars = {
        AIDE_MODEL_NAME: file.name, AIDE_MODEL_URL: file.url, AIDE_MODEL_SHA256: file.sha256, AIDE_MODEL_DIR: file.dir,
        ...(pinnedIn ? { AIDE_PIN_SOURCE: pinnedIn } : {}),
      };
      const download = source.step("model", { ...modelVars, AIDE_ROLE: "download" }, this, [source.base], step);
      for (const n of nodes) {
        this.modelReady[n.name] ??= [];
        if (n === source) {
          this.modelReady[n.name].push(download);
          continue;
        }
        const copy = this.relay(`${n.name}-${step}-copy`, {
          AIDE_FROM: sshTarget(source, file.dir),
          AIDE_INCLUDE: file.name,
          AIDE_TO: sshTarget(n, file.dir),
          AIDE_SHA256: file.sha256,
        }, [download, n.base]);
        // The node's own model step verifies the copy and owns its removal on destroy.
        this.modelReady[n.name].push(n.step("model", { ...modelVars, AIDE_ROLE: "verify" }, this, [copy], step));
      }
    };
    distributeModel("model", { ...config.model, dir: MODEL_DIR });
    distributeModel("embedding-model", EMBEDDING_MODEL, "scripts/models/catalog.ts (role embedding)");
  }

  /** 3. The speech models (STT, TTS, VAD, and YOLO for vision) from this machine's models
   * directory (`npm run models -- download`), beside the LLM's file. Per node: the step
   * after which they are in place. */
  private distributeSpeechModels(nodes: LegacyNode[]): Record<string, remote.Command> {
    const speech = speechModels();
    if (!speech.include) {
      pulumi.log.warn(`no speech models in ${speech.dir} (no manifest.json): the voice agent cannot start on the nodes until you run 'npm run models -- download --only stt,tts,vad' and 'pulumi up' again`, this);
    }
    return Object.fromEntries(nodes.map((n) => {
      const speechCopy = this.relay(`${n.name}-speech-copy`, {
        AIDE_FROM: speech.include ? `local:${speech.dir}` : "",
        AIDE_INCLUDE: speech.include,
        AIDE_TO: sshTarget(n, MODEL_DIR),
        AIDE_STAMP: speech.stamp,
        AIDE_SKIP_REASON: `no speech models in ${speech.dir} on the control node`,
      }, [n.base]);
      return [n.name, n.step("speech-models", { AIDE_MODEL_DIR: MODEL_DIR, AIDE_INCLUDE: speech.include, AIDE_STAMP: speech.stamp }, this, [speechCopy])];
    }));
  }

  /** 4. The agent package, compiled here (npm run build:agent: agent/dist, JavaScript; the
   * nodes have no compiler) and installed with the node's Node.js; ready once the node's
   * speech models are in place too. */
  private distributeAgent(nodes: LegacyNode[], speechReady: Record<string, remote.Command>): void {
    const agentStamp = agentSourceHash();
    const agentBuild = new local.Command("agent-build", {
      create: "npm run --silent build:agent",
      dir: REPO,
      triggers: [agentStamp],
    }, { parent: this });
    for (const n of nodes) {
      const copy = this.relay(`${n.name}-agent-copy`, {
        AIDE_FROM: `local:${path.join(REPO, "agent")}`,
        AIDE_INCLUDE: "package.json\ndist",
        AIDE_TO: sshTarget(n, `${AGENT_DIR}.incoming`),
        AIDE_STAMP: agentStamp,
      }, [n.nodejs, agentBuild]);
      this.agentReady[n.name] = n.step("agent", { AIDE_AGENT_DIR: AGENT_DIR, AIDE_STAMP: agentStamp }, this, [copy, speechReady[n.name]]);
    }
  }
}
