// The stack config, parsed once at the edge into typed values. Every problem is collected
// before any resource exists, and each carries the `pulumi config set` that fixes it.
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_VAD_PARAMS } from "../agent/src/services/vad/turn-detector";
import { DEFAULT_PRE_ROLL_MS } from "../agent/src/processors/stt";

export type Backend = "llamacpp-rpc" | "primacpp";
export const BACKENDS: readonly Backend[] = ["llamacpp-rpc", "primacpp"];

/** A Nomad server also runs a client; every node is a client. */
export type NodeRole = "server" | "client";

export interface NodeConfig {
  name: string;
  address: string;
  user: string;
  port: number;
  roles: NodeRole[];
  /** Hints the user knows and SSH cannot tell: a webcam for the vision service. */
  webcam: boolean;
}

/** What `infra/scripts/facts.sh` reports about a node, parsed from its JSON. */
export interface NodeFacts {
  hostname: string;
  cpuModel: string;
  cpuFlags: string[];
  sse41: boolean;
  sse42: boolean;
  avx: boolean;
  cores: number;
  ramMb: number;
  diskFreeMb: number;
  debianVersion: string;
}

/** A download pinned by its checksum. */
export interface PinnedDownload {
  url: string;
  sha256: string;
}

export interface ModelConfig extends PinnedDownload {
  /** File name on the nodes, e.g. qwen2.5-1.5b-instruct-q4_0.gguf. */
  name: string;
}

export interface AgentConfig {
  /** The https page and WebSocket. */
  port: number;
  /** Plain http: only the household CA certificate and how to install it. */
  httpPort: number;
  /** The speech recognizer, by its name in the models directory's manifest (AIDE_STT_MODEL). */
  sttModel: string;
  ttsModel: string;
  /** VAD_START_THRESHOLD, VAD_MIN_SILENCE_MS and VAD_SPEECH_PAD_MS of the agent. */
  vad: { threshold: number; minSilenceMs: number; speechPadMs: number };
  benchmark: boolean;
}

export interface NomadConfig extends PinnedDownload {
  version: string;
  datacenter: string;
}

export interface AideConfig {
  nodes: NodeConfig[];
  servers: NodeConfig[];
  backend: Backend;
  model: ModelConfig;
  agent: AgentConfig;
  nomad: NomadConfig;
  nodejs: PinnedDownload & { version: string };
  /** prima.cpp's source tarball; required only for backend primacpp. No HiGHS: the job
   * passes -lw, so prima's scheduler never runs (shared/prima/FLAGS.md). */
  primacpp?: { source: PinnedDownload };
  /** Refuse nodes with less free disk than this (builds + model + swap). */
  minDiskFreeMb: number;
}

/** The secrets, kept as Pulumi secrets from the moment they are read. */
export interface AideSecrets {
  sshPrivateKey: pulumi.Output<string>;
  nomadGossipKey: pulumi.Output<string>;
}

export interface ConfigProblem {
  key: string;
  problem: string;
  fix: string;
}

export class AideConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `the stack config has ${problems.length} problem${problems.length === 1 ? "" : "s"}; nothing was created:\n` +
        problems.map((p) => `  - aide:${p.key}: ${p.problem}\n      fix: ${p.fix}`).join("\n"),
    );
    this.name = "AideConfigError";
  }
}

export const MIN_NODES = 3;
export const MAX_NODES = 20;
export const NOMAD_SERVER_COUNT = 3; // seed §3.4: a Raft quorum that survives one failure

/** Raw stack values as Pulumi stores them: strings, structured ones as JSON. */
export type RawConfig = (key: string) => string | undefined;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const HTTP_URL = /^https?:\/\/[^\s'"]+$/;
const VERSION = /^\d+\.\d+\.\d+$/;
const GGUF_NAME = /^[A-Za-z0-9._-]+\.gguf$/;
const MODEL_ID = /^[A-Za-z0-9._-]+$/;

/** `pulumi config set` with the value quoted for a POSIX shell when it needs it. */
function setCmd(path: string, value: string, secret = false): string {
  const quoted = /^[A-Za-z0-9._:/@=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
  const isPath = /[.[]/.test(path);
  return `pulumi config set ${secret ? "--secret " : ""}${isPath ? "--path " : ""}'${path}' ${quoted}`;
}

/** Reads fields of one config object, recording problems instead of throwing. */
class FieldReader {
  constructor(
    private readonly problems: ConfigProblem[],
    private readonly obj: Record<string, unknown>,
    private readonly path: string,
  ) {}

  private at(field: string): string {
    return this.path ? `${this.path}.${field}` : field;
  }

  string(field: string, pattern: RegExp, what: string, example: string, fallback?: string): string {
    const v = this.obj[field];
    if (v === undefined || v === null || v === "") {
      if (fallback !== undefined) return fallback;
      this.problems.push({ key: this.at(field), problem: `missing (${what})`, fix: setCmd(this.at(field), example) });
      return "";
    }
    if (typeof v !== "string" || !pattern.test(v)) {
      this.problems.push({
        key: this.at(field),
        problem: `${JSON.stringify(v)} is not ${what}`,
        fix: setCmd(this.at(field), example),
      });
      return "";
    }
    return v;
  }

  number(field: string, min: number, max: number, fallback: number, integer = true): number {
    const v = this.obj[field];
    if (v === undefined || v === null || v === "") return fallback;
    const n = typeof v === "string" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      this.problems.push({
        key: this.at(field),
        problem: `${JSON.stringify(v)} is not ${integer ? "a whole number" : "a number"} from ${min} to ${max}`,
        fix: setCmd(this.at(field), String(fallback)),
      });
      return fallback;
    }
    return n;
  }

  boolean(field: string, fallback: boolean): boolean {
    const v = this.obj[field];
    if (v === undefined || v === null || v === "") return fallback;
    if (v === true || v === "true") return true;
    if (v === false || v === "false") return false;
    this.problems.push({ key: this.at(field), problem: `${JSON.stringify(v)} is not true or false`, fix: setCmd(this.at(field), String(fallback)) });
    return fallback;
  }

  object(field: string): FieldReader {
    const v = this.obj[field];
    if (v !== undefined && (typeof v !== "object" || v === null || Array.isArray(v))) {
      this.problems.push({ key: this.at(field), problem: `expected an object, got ${JSON.stringify(v)}`, fix: `pulumi config rm '${this.at(field)}' and set its fields with --path` });
      return new FieldReader(this.problems, {}, this.at(field));
    }
    return new FieldReader(this.problems, (v as Record<string, unknown>) ?? {}, this.at(field));
  }

  pinned(example: PinnedDownload, checksumHint: string): PinnedDownload {
    const url = this.string("url", HTTP_URL, "an http(s) URL", example.url, example.url);
    const v = this.obj.sha256;
    let sha256 = "";
    if (typeof v === "string" && SHA256.test(v)) sha256 = v;
    else
      this.problems.push({
        key: this.at("sha256"),
        problem: v === undefined || v === "" ? `missing: the download ${url} is verified against it` : `${JSON.stringify(v)} is not a lowercase hex sha256`,
        fix: `${setCmd(this.at("sha256"), "<sha256>")}   (${checksumHint})`,
      });
    return { url, sha256 };
  }
}

function parseJson(problems: ConfigProblem[], raw: RawConfig, key: string, example: string): unknown {
  const text = raw(key);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // A plain string was given where an object or list belongs.
    problems.push({ key, problem: `${JSON.stringify(text)} is not ${example}`, fix: `pulumi config rm ${key}; then set it with --path (see Pulumi.dev.yaml)` });
    return null;
  }
}

/** `aide-NN`, the first such name no node uses (nor any fix already suggested). */
function unusedName(taken: Set<string>): string {
  for (let k = 1; ; k++) {
    const name = `aide-${String(k).padStart(2, "0")}`;
    if (!taken.has(name)) {
      taken.add(name);
      return name;
    }
  }
}

/** The next address after the highest in use, in its /24: a guess the user can correct. */
function unusedAddress(taken: Set<string>): string {
  const used = [...taken].filter((a) => IPV4.test(a)).map((a) => a.split(".").map(Number));
  const base = used.length ? used.reduce((hi, a) => (a[3] > hi[3] ? a : hi)) : [192, 168, 1, 100];
  for (let last = base[3] + 1; last < 255; last++) {
    const address = `${base[0]}.${base[1]}.${base[2]}.${last}`;
    if (!taken.has(address)) {
      taken.add(address);
      return address;
    }
  }
  return "<an unused address>";
}

function parseNodes(problems: ConfigProblem[], raw: RawConfig): NodeConfig[] {
  const value = parseJson(problems, raw, "nodes", "a list of nodes");
  if (value === null) return [];
  if (!Array.isArray(value)) {
    problems.push({
      key: "nodes",
      problem: value === undefined ? "missing: the list of desktops to provision" : "expected a list of nodes",
      fix: `${setCmd("nodes[0].name", "aide-01")} && ${setCmd("nodes[0].address", "192.168.1.101")}   (one pair per desktop)`,
    });
    return [];
  }
  // Checked like nodes[i].user, which it is the default of: it reaches ssh as the login.
  const sshUser = raw("sshUser");
  let defaultUser = "root";
  if (sshUser !== undefined && sshUser !== "") {
    if (UNIX_USER.test(sshUser)) defaultUser = sshUser;
    else problems.push({ key: "sshUser", problem: `${JSON.stringify(sshUser)} is not a Unix user name (the login on every node)`, fix: setCmd("sshUser", "root") });
  }
  /** Unknown roles, fixed once we know whether the cluster is short of servers. */
  const unknownRoles: Array<{ node: number; index: number; role: unknown }> = [];
  const nodes = value.map((entry, i): NodeConfig => {
    const p = `nodes[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push({ key: p, problem: `expected an object with name and address, got ${JSON.stringify(entry)}`, fix: `${setCmd(`${p}.name`, `aide-${String(i + 1).padStart(2, "0")}`)}` });
      return { name: "", address: "", user: defaultUser, port: 22, roles: ["client"], webcam: false };
    }
    const r = new FieldReader(problems, entry as Record<string, unknown>, p);
    const name = r.string("name", HOSTNAME, "a hostname (lowercase letters, digits, '-')", `aide-${String(i + 1).padStart(2, "0")}`);
    const address = r.string("address", IPV4, "an IPv4 address", `192.168.1.${101 + i}`);
    const user = r.string("user", UNIX_USER, "a Unix user name", "root", defaultUser);
    const port = r.number("port", 1, 65535, 22);
    const webcam = r.boolean("webcam", false);
    const rolesRaw = (entry as Record<string, unknown>).roles ?? [];
    const roles: NodeRole[] = ["client"];
    if (!Array.isArray(rolesRaw)) {
      problems.push({ key: `${p}.roles`, problem: `expected a list like ["server"]`, fix: setCmd(`${p}.roles[0]`, "server") });
    } else {
      rolesRaw.forEach((role, j) => {
        if (role === "server") roles.unshift("server");
        else if (role !== "client") unknownRoles.push({ node: i, index: j, role });
      });
    }
    return { name, address, user, port, roles: [...new Set(roles)], webcam };
  });

  const names = new Set(nodes.map((n) => n.name).filter(Boolean));
  const addresses = new Set(nodes.map((n) => n.address).filter(Boolean));
  for (const field of ["name", "address"] as const) {
    const seen = new Map<string, number>();
    nodes.forEach((n, i) => {
      if (!n[field]) return;
      const first = seen.get(n[field]);
      if (first === undefined) seen.set(n[field], i);
      else
        problems.push({
          key: `nodes[${i}].${field}`,
          problem: `${JSON.stringify(n[field])} is already used by nodes[${first}]; each node needs its own ${field}`,
          fix: setCmd(`nodes[${i}].${field}`, field === "name" ? unusedName(names) : unusedAddress(addresses)),
        });
    });
  }

  // Too few nodes: the fix adds complete ones (name and address; roles come below).
  const added: number[] = [];
  if (value.length < MIN_NODES) {
    for (let k = value.length; k < MIN_NODES; k++) added.push(k);
    problems.push({
      key: "nodes",
      problem: `${value.length} node(s) listed; Aide needs ${MIN_NODES} to ${MAX_NODES}`,
      fix: added.map((k) => `${setCmd(`nodes[${k}].name`, unusedName(names))} && ${setCmd(`nodes[${k}].address`, unusedAddress(addresses))}`).join(" && ") +
        "   (your desktops' names and addresses)",
    });
  } else if (value.length > MAX_NODES) {
    problems.push({
      key: "nodes",
      problem: `${value.length} node(s) listed; Aide needs ${MIN_NODES} to ${MAX_NODES}`,
      fix: Array.from({ length: value.length - MAX_NODES }, (_, k) => `pulumi config rm --path 'nodes[${value.length - 1 - k}]'`).join(" && "),
    });
  }

  // Exactly three servers: promote non-servers (first those whose unknown role can become
  // "server"), then the nodes the count fix adds; or demote the extra ones.
  const servers = nodes.filter((n) => n.roles.includes("server"));
  const promote = new Map<number, number>(); // node index → the role index to set to "server"
  if (servers.length < NOMAD_SERVER_COUNT) {
    const firstUnknown = (i: number) => unknownRoles.find((u) => u.node === i)?.index;
    const candidates = [
      ...nodes.map((n, i) => i).filter((i) => !nodes[i].roles.includes("server")),
      ...added,
    ];
    for (const i of candidates.slice(0, NOMAD_SERVER_COUNT - servers.length)) promote.set(i, firstUnknown(i) ?? 0);
  }
  for (const u of unknownRoles) {
    const role = promote.get(u.node) === u.index ? "server" : "client";
    problems.push({ key: `nodes[${u.node}].roles[${u.index}]`, problem: `unknown role ${JSON.stringify(u.role)} (roles are "server" and "client")`, fix: setCmd(`nodes[${u.node}].roles[${u.index}]`, role) });
  }
  if (servers.length !== NOMAD_SERVER_COUNT && (nodes.length > 0 || added.length > 0)) {
    const fix = servers.length < NOMAD_SERVER_COUNT
      ? [...promote].map(([i, j]) => setCmd(`nodes[${i}].roles[${j}]`, "server")).join(" && ")
      : nodes
          .map((n, i) => ({ n, i }))
          .filter(({ n }) => n.roles.includes("server"))
          .slice(NOMAD_SERVER_COUNT)
          .map(({ i }) => `pulumi config rm --path 'nodes[${i}].roles'`)
          .join(" && ");
    problems.push({
      key: "nodes[*].roles",
      problem: `${servers.length} node(s) have the role "server"; a Nomad cluster needs exactly ${NOMAD_SERVER_COUNT} (seed §3.4)`,
      fix,
    });
  }

  // The agent job may land on any webcam node, and the planner reserves its memory on the first.
  const cameras = nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.webcam);
  for (const { i } of cameras.slice(1)) {
    problems.push({
      key: `nodes[${i}].webcam`,
      problem: `nodes[${cameras[0].i}] already has the webcam; Aide watches one camera, on one node`,
      fix: setCmd(`nodes[${i}].webcam`, "false"),
    });
  }
  return nodes;
}

export interface ParsedConfig {
  config: AideConfig;
  problems: ConfigProblem[];
}

/**
 * Parses raw stack values (what `pulumi config` holds under the `aide:` namespace).
 * `secretKeys` names the secrets that are set; their values never pass through here.
 */
export function parseAideConfig(raw: RawConfig, secretsSet: { sshPrivateKey: boolean; nomadGossipKey: string | undefined }): ParsedConfig {
  const problems: ConfigProblem[] = [];
  const nodes = parseNodes(problems, raw);

  const backendRaw = raw("backend") ?? "llamacpp-rpc";
  if (!BACKENDS.includes(backendRaw as Backend)) {
    problems.push({ key: "backend", problem: `unknown backend ${JSON.stringify(backendRaw)} (one of: ${BACKENDS.join(", ")})`, fix: setCmd("backend", "llamacpp-rpc") });
  }
  const backend = backendRaw as Backend;

  const obj = (key: string) => {
    const v = parseJson(problems, raw, key, "an object");
    const root = new FieldReader(problems, v === undefined || v === null ? {} : { [key]: v }, "");
    return root.object(key);
  };

  const m = obj("model");
  const modelName = m.string("name", GGUF_NAME, "a .gguf file name", "qwen2.5-1.5b-instruct-q4_0.gguf");
  const model: ModelConfig = { name: modelName, ...m.pinned({ url: "https://huggingface.co/<repo>/resolve/main/" + (modelName || "<file>.gguf"), sha256: "" }, "sha256sum of the .gguf, or the SHA256 shown on its download page") };

  const a = obj("agent");
  const vad = a.object("vad");
  const agent: AgentConfig = {
    port: a.number("port", 1024, 65535, 8443),
    httpPort: a.number("httpPort", 1024, 65535, 8080),
    sttModel: a.string("sttModel", MODEL_ID, "a speech-to-text model id", "moonshine-tiny", "moonshine-tiny"),
    ttsModel: a.string("ttsModel", MODEL_ID, "a text-to-speech voice id", "espeak-ng", "espeak-ng"),
    vad: {
      // The agent's own defaults (what npm start uses), so a stack that sets nothing gets the same turn-taking.
      threshold: vad.number("threshold", 0.05, 0.95, DEFAULT_VAD_PARAMS.startThreshold, false),
      minSilenceMs: vad.number("minSilenceMs", 100, 3000, DEFAULT_VAD_PARAMS.minSilenceMs),
      speechPadMs: vad.number("speechPadMs", 0, 1000, DEFAULT_PRE_ROLL_MS),
    },
    benchmark: a.boolean("benchmark", false),
  };
  if (agent.port === agent.httpPort) {
    problems.push({
      key: "agent.httpPort",
      problem: `is ${agent.httpPort}, the same as agent.port: the https page and the plain-http certificate page need a port each`,
      fix: setCmd("agent.httpPort", String(agent.port === 8080 ? 8081 : 8080)),
    });
  }

  const n = obj("nomad");
  const nomadVersion = n.string("version", VERSION, "a Nomad release like 1.9.7", "1.9.7", "1.9.7");
  const nomad: NomadConfig = {
    version: nomadVersion,
    datacenter: n.string("datacenter", HOSTNAME, "a datacenter name", "aide", "aide"),
    ...n.pinned(
      { url: `https://releases.hashicorp.com/nomad/${nomadVersion}/nomad_${nomadVersion}_linux_amd64.zip`, sha256: "" },
      `curl -sL https://releases.hashicorp.com/nomad/${nomadVersion}/nomad_${nomadVersion}_SHA256SUMS | grep linux_amd64`,
    ),
  };

  const j = obj("nodejs");
  // The agent runs on the Node.js major CI tests with (package.json engines).
  const nodeVersion = j.string("version", VERSION, "a Node.js release like 20.20.2", "20.20.2", "20.20.2");
  const nodejs = {
    version: nodeVersion,
    ...j.pinned(
      { url: `https://nodejs.org/dist/v${nodeVersion}/node-v${nodeVersion}-linux-x64.tar.xz`, sha256: "" },
      `curl -sL https://nodejs.org/dist/v${nodeVersion}/SHASUMS256.txt | grep linux-x64.tar.xz`,
    ),
  };

  let primacpp: AideConfig["primacpp"];
  if (backend === "primacpp") {
    const pc = obj("primacpp");
    primacpp = {
      source: pc.object("source").pinned(
        { url: "https://github.com/Lizonghang/prima.cpp/archive/bdf9d8e.tar.gz", sha256: "" },
        "sha256sum of the tarball",
      ),
    };
  }

  const minDiskFreeMb = new FieldReader(problems, { minDiskFreeMb: raw("minDiskFreeMb") }, "").number("minDiskFreeMb", 1024, 10_000_000, 20_000);

  if (!secretsSet.sshPrivateKey) {
    problems.push({
      key: "sshPrivateKey",
      problem: "missing: the private key Pulumi uses to reach every node over SSH",
      fix: "pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519   (its public key in each node's authorized_keys; scripts/initial-setup/setup.sh prepares that)",
    });
  }
  const gossip = secretsSet.nomadGossipKey;
  if (gossip === undefined || gossip === "") {
    problems.push({ key: "nomadGossipKey", problem: "missing: Nomad encrypts server gossip with it", fix: "pulumi config set --secret nomadGossipKey \"$(openssl rand -base64 32)\"" });
  } else if (!/^[A-Za-z0-9+/]{43}=$/.test(gossip)) {
    // Not echoed: it is a secret, even when malformed.
    problems.push({ key: "nomadGossipKey", problem: "is not 32 bytes of base64 (44 characters)", fix: "pulumi config set --secret nomadGossipKey \"$(openssl rand -base64 32)\"" });
  }

  const servers = nodes.filter((x) => x.roles.includes("server"));
  return { config: { nodes, servers, backend, model, agent, nomad, nodejs, primacpp, minDiskFreeMb }, problems };
}

/** Reads the `aide:` stack config; throws AideConfigError listing every problem at once. */
export function loadAideConfig(): { config: AideConfig; secrets: AideSecrets } {
  const cfg = new pulumi.Config("aide");
  const rawSecret = (key: string) => pulumi.runtime.getConfig(`aide:${key}`);
  const { config, problems } = parseAideConfig((key) => cfg.get(key), {
    sshPrivateKey: !!rawSecret("sshPrivateKey"),
    nomadGossipKey: rawSecret("nomadGossipKey"),
  });
  if (problems.length > 0) throw new AideConfigError(problems);
  return {
    config,
    secrets: {
      sshPrivateKey: cfg.requireSecret("sshPrivateKey"),
      nomadGossipKey: cfg.requireSecret("nomadGossipKey"),
    },
  };
}
