// The whole Pulumi program under Pulumi's mocks: which resources a stack creates, in
// what order, what stays secret, and what a backend switch changes.
// @slow: the whole Pulumi program under mocks, several stacks (about 13 s alone)
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { coreTwoFacts, ProgramRun, Registered, runProgram } from "./program";
import URNS_BEFORE from "./fixtures/three-node-stack-urns-before-components-owned-steps.json";
import { GOSSIP, validStack } from "./stack-fixture";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nTEST-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----";
const secrets = { sshPrivateKey: KEY, nomadGossipKey: GOSSIP };
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

const isSecret = (v: unknown): v is { value: unknown } => typeof v === "object" && v !== null && SECRET_SIG in v;
const plain = (v: any): any => (isSecret(v) ? v.value : v);
const byName = (run: ProgramRun, name: string): Registered => {
  const r = run.resources.find((x) => x.name === name);
  if (!r) throw new Error(`no resource named ${name}; have: ${run.resources.map((x) => x.name).join(", ")}`);
  return r;
};
/** The step's quoted variables, read back from the program it sends on stdin. */
const stepVar = (r: Registered, name: string): string | undefined => {
  const m = new RegExp(`^${name}='((?:[^']|'\\\\'')*)'$`, "m").exec(plain(r.inputs.stdin));
  return m ? m[1].replace(/'\\''/g, "'") : undefined;
};
const PER_NODE = ["facts", "base", "firewall", "nodejs", "llama", "nomad", "agent", "agent-copy", "speech-copy", "speech-models", "engine-copy", "llama-source", "model", "embedding-model"];

describe("the cluster graph under Pulumi mocks", () => {
  let three: ProgramRun;
  const savedCache = process.env.AIDE_CACHE;
  const errors: string[] = [];
  const errorSpy = jest.spyOn(console, "error").mockImplementation((...a: unknown[]) => void errors.push(a.join(" ")));
  const cache = mkdtempSync(join(tmpdir(), "aide-graph-cache-"));
  beforeAll(async () => {
    // The stack's model (tiny.gguf in the fixture) as the local copy the layer planner reads.
    mkdirSync(join(cache, "models"));
    copyFileSync(await ensureTinyChatModel(), join(cache, "models", "tiny.gguf"));
    // ...and speech models as `npm run models -- download` leaves them (contents don't matter here).
    mkdirSync(join(cache, "models", "stt", "moonshine-tiny"), { recursive: true });
    writeFileSync(join(cache, "models", "stt", "moonshine-tiny", "tokens.txt"), "a 0\n");
    writeFileSync(join(cache, "models", "manifest.json"), '{"version":1,"models":[]}');
    process.env.AIDE_CACHE = cache;
    three = await runProgram(validStack(3), secrets);
  });
  afterAll(() => {
    process.env.AIDE_CACHE = savedCache;
    errorSpy.mockRestore();
    rmSync(cache, { recursive: true, force: true });
  });
  afterEach(() => {
    // The program logs nothing as an error for a valid stack.
    expect(errors.filter((e) => !e.includes("AideConfigError"))).toEqual([]);
  });

  it("gives the seed's three desktops every provisioning step, one readiness check and the endpoints", () => {
    expect(three.error).toBeUndefined();
    const components = three.resources.filter((r) => r.type === "aide:infra:LegacyNode").map((r) => r.name);
    expect(components).toEqual(["aide-01", "aide-02", "aide-03"]);
    for (const node of components) for (const step of PER_NODE) expect(byName(three, `${node}-${step}`)).toBeDefined();
    expect(three.resources.filter((r) => r.name.endsWith("-nomad-ready")).map((r) => r.name)).toEqual(["aide-01-nomad-ready"]);
    // The jobs (infra/jobs.ts) come after the cluster is ready.
    const jobs = three.resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource").map((r) => r.name).sort();
    expect(jobs).toEqual(["aide-embeddings", "aide-llama-bench", "aide-llm", "aide-stt", "aide-tts", "aide-voice-agent"]);
    for (const j of jobs) expect(three.dependsOn.get(j)).toContain("aide-01-nomad-ready");
    // Speech models go from this machine's models directory to every node.
    const speech = plain(byName(three, "aide-03-speech-copy").inputs.environment);
    expect(speech.AIDE_FROM).toBe(`local:${join(process.env.AIDE_CACHE!, "models")}`);
    expect(speech.AIDE_INCLUDE).toBe("manifest.json\nstt");
    expect(speech.AIDE_TO).toBe("root@192.168.1.103:22:/var/lib/aide/models");
    // The agent goes compiled, built once here: no compiler or runtime of its own on the nodes.
    expect(stepVar(byName(three, "aide-03-agent"), "AIDE_AGENT_RUNTIME")).toBeUndefined();
    expect(plain(byName(three, "aide-03-agent-copy").inputs.environment).AIDE_INCLUDE).toBe("package.json\ndist");
    expect(byName(three, "agent-build").inputs.create).toBe("npm run --silent build:agent");
    // The first server downloads the model; the others receive a copy.
    expect(three.resources.filter((r) => /-\d\d-model-copy$/.test(r.name)).map((r) => r.name)).toEqual(["aide-02-model-copy", "aide-03-model-copy"]);
    // So with long-term memory's embedder, pinned by the catalog, into its own folder; each copy is checked.
    expect(stepVar(byName(three, "aide-01-embedding-model"), "AIDE_ROLE")).toBe("download");
    expect(stepVar(byName(three, "aide-01-embedding-model"), "AIDE_MODEL_URL")).toMatch(/^https:\/\/huggingface\.co\/.*all-MiniLM-L6-v2-Q4_K_M\.gguf$/);
    const embeddingCopy = plain(byName(three, "aide-03-embedding-model-copy").inputs.environment);
    expect(embeddingCopy).toMatchObject({
      AIDE_FROM: "root@192.168.1.101:22:/var/lib/aide/models/embedding", AIDE_INCLUDE: "all-minilm-l6-v2-q4_k_m.gguf",
      AIDE_TO: "root@192.168.1.103:22:/var/lib/aide/models/embedding", AIDE_SHA256: "2ec4cee28a27a9c973d5f5230930d6ef6e52694bd2bc71be26a9bef5b1d755e6",
    });
    expect(stepVar(byName(three, "aide-03-embedding-model"), "AIDE_ROLE")).toBe("verify");
    expect(three.outputs).toMatchObject({
      nomadAddress: "http://192.168.1.101:4646",
      nomadUi: "http://192.168.1.101:4646/ui",
      llmService: "http://192.168.1.101:4646/v1/service/aide-llm",
      agentPage: "https://192.168.1.101:8443/",
      agentCertificatePage: "http://192.168.1.101:8080/",
      caCertificate: expect.stringMatching(/^-----BEGIN CERTIFICATE-----\n/),
      backend: "llamacpp-rpc",
      nodeFacts: { "aide-02": { cpuModel: expect.stringContaining("Core(TM)2"), avx: false, sse42: false } },
    });
  });

  it("orders each node's steps: facts, base, then everything else, Nomad last", () => {
    const deps = (name: string) => three.dependsOn.get(name) ?? [];
    expect(deps("aide-02-base")).toEqual(["aide-02-facts"]);
    for (const s of ["firewall", "nodejs"]) expect(deps(`aide-02-${s}`)).toEqual(["aide-02-base"]);
    expect(deps("aide-02-agent")).toEqual(["aide-02-agent-copy", "aide-02-speech-models"]);
    expect(deps("aide-02-speech-models")).toEqual(["aide-02-speech-copy"]);
    expect(deps("aide-02-agent-copy")).toEqual(["aide-02-nodejs", "agent-build"]);
    // A receiver's engine copy waits for every build, since any node may be its builder,
    // and (through the build plan) for every node's facts.
    expect(deps("aide-03-engine-copy").sort()).toEqual(["aide-01-facts", "aide-01-llama", "aide-02-facts", "aide-02-llama", "aide-03-facts", "aide-03-llama"]);
    expect(deps("aide-02-nomad")).toEqual(
      expect.arrayContaining(["aide-02-base", "aide-02-firewall", "aide-02-llama", "aide-02-engine-copy", "aide-02-model", "aide-02-embedding-model", "aide-02-agent"]),
    );
    expect(deps("aide-01-nomad-ready").sort()).toEqual(["aide-01-nomad", "aide-02-nomad", "aide-03-nomad"]);
  });

  it("keeps the SSH key and the gossip key secret everywhere they travel", () => {
    for (const r of three.resources.filter((x) => x.type === "command:remote:Command")) expect(isSecret(r.inputs.connection)).toBe(true);
    for (const r of three.resources.filter((x) => x.type === "command:local:Command" && x.name.endsWith("-copy"))) expect(isSecret(r.inputs.environment)).toBe(true);
    const nomad = byName(three, "aide-01-nomad");
    expect(isSecret(nomad.inputs.stdin)).toBe(true);
    expect(stepVar(nomad, "AIDE_NOMAD_GOSSIP_KEY")).toBe(GOSSIP);
    // Steps without secrets stay readable in diffs.
    expect(isSecret(byName(three, "aide-01-base").inputs.stdin)).toBe(false);
    // Nowhere outside a secret wrapper does either key appear.
    const strip = (v: any): any =>
      isSecret(v) ? "[secret]" : Array.isArray(v) ? v.map(strip) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x)])) : v;
    const visible = JSON.stringify(three.resources.map((r) => strip(r.inputs))) + JSON.stringify(three.outputs);
    expect(visible).not.toContain("TEST-KEY-MATERIAL");
    expect(visible).not.toContain(GOSSIP);
  });

  it("makes the household CA and pairing code as secrets, and gives the agent's node a certificate only its user can read", () => {
    const { X509Certificate, createPrivateKey, createPublicKey } = require("node:crypto") as typeof import("node:crypto");
    // The CA key and the pairing code never appear outside a secret wrapper.
    expect(three.pulumi.Output.isInstance(three.exports.pairingCode)).toBe(true);
    const tls = byName(three, "aide-01-agent-tls");
    expect(isSecret(tls.inputs.stdin)).toBe(true);
    const code = stepVar(tls, "AIDE_PAIRING_CODE")!;
    expect(code).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}$/);
    expect(three.outputs.pairingCode).toBe(code);
    const strip = (v: any): any =>
      isSecret(v) ? "[secret]" : Array.isArray(v) ? v.map(strip) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x)])) : v;
    const visible = JSON.stringify(three.resources.map((r) => strip(r.inputs))) + JSON.stringify({ ...three.outputs, pairingCode: "[secret]" });
    expect(visible).not.toContain("PRIVATE KEY");
    expect(visible).not.toContain(code);
    for (const name of ["aide-ca-and-pairing-code", "aide-agent-certificate"]) expect(byName(three, name).inputs.logging).toBe("none");

    // The agent's certificate: its node's address and host name, signed by the CA the stack outputs.
    const cert = new X509Certificate(stepVar(tls, "AIDE_TLS_CERT")!);
    expect(cert.subjectAltName).toBe("DNS:aide-01, IP Address:192.168.1.101");
    expect(cert.verify(new X509Certificate(three.outputs.caCertificate as string).publicKey)).toBe(true);
    expect(stepVar(tls, "AIDE_TLS_CA")).toBe(three.outputs.caCertificate);
    const key = createPrivateKey(stepVar(tls, "AIDE_TLS_KEY")!);
    expect(createPublicKey(key).export({ type: "spki", format: "der" })).toEqual(cert.publicKey.export({ type: "spki", format: "der" }));
    expect(stepVar(tls, "AIDE_TLS_DIR")).toBe("/var/lib/aide/tls");

    // In place before the agent's job starts, which runs https with them.
    expect(three.dependsOn.get("aide-01-agent-tls")?.sort()).toEqual(["aide-01-base", "aide-agent-certificate", "aide-ca-and-pairing-code"]);
    expect(three.dependsOn.get("aide-voice-agent")).toContain("aide-01-agent-tls");
    const job = (three.outputs.jobSpecs as any).agent.Job.TaskGroups[0];
    expect(job.Tasks[0].Env).toMatchObject({
      AIDE_TLS_CERT: "/var/lib/aide/tls/agent.pem", AIDE_TLS_KEY: "/var/lib/aide/tls/agent-key.pem", AIDE_TLS_CA: "/var/lib/aide/tls/ca.pem",
      AIDE_PAIRING_CODE_FILE: "/var/lib/aide/tls/pairing-code", AIDE_HTTP_PORT: "${NOMAD_PORT_plain}",
    });
    expect(job.Networks[0].ReservedPorts).toEqual([{ Label: "http", Value: 8443 }, { Label: "plain", Value: 8080 }]);
    expect(job.Tasks[0].Services[0].Checks[0]).toMatchObject({ Protocol: "https", TLSSkipVerify: true, Path: "/health" });
  });

  it("gives each component what it makes: Nomad's steps to the cluster, distribution steps to the distribution, the jobs to Jobs", () => {
    const parentOf = (name: string) => {
      const found = three.urns.filter((u) => u.urn.endsWith(`::${name}`));
      expect(found).toHaveLength(1);
      return found[0].urn.split("::")[2].split("$").slice(0, -1).join("$");
    };
    for (const node of ["aide-01", "aide-02", "aide-03"]) {
      for (const step of ["facts", "base", "firewall", "nodejs"]) expect(parentOf(`${node}-${step}`)).toBe("aide:infra:LegacyNode");
      expect(parentOf(`${node}-nomad`)).toBe("aide:infra:NomadCluster");
      for (const step of ["llama", "engine-copy", "llama-source", "model", "embedding-model", "speech-copy", "speech-models", "agent-copy", "agent"]) {
        expect(parentOf(`${node}-${step}`)).toBe("aide:infra:Distribution");
      }
    }
    expect(parentOf("aide-01-nomad-ready")).toBe("aide:infra:NomadCluster");
    for (const job of ["aide-llm", "aide-voice-agent", "aide-llama-bench", "aide-stt", "aide-tts", "aide-embeddings"]) expect(parentOf(job)).toBe("aide:infra:Jobs");
  });

  it("keeps every resource a stack made before the components owned their steps: each old URN is a URN or an alias now", async () => {
    const prima = await runProgram(validStack(3, { backend: "primacpp", primacpp: { source: { sha256: "b".repeat(64) } } }), secrets);
    for (const [run, before] of [[three, URNS_BEFORE["llamacpp-rpc"]], [prima, URNS_BEFORE.primacpp]] as const) {
      // Each old URN names exactly one resource of the program now, so nothing is replaced or deleted.
      const claimedBy = (urn: string) => run.urns.filter((u) => u.urn === urn || u.aliases.includes(urn)).length;
      expect(before.filter((urn) => claimedBy(urn) !== 1)).toEqual([]);
      // And what is new is only the Jobs component, and the agent's build on this machine
      // (the nodes get it compiled: one local command per stack).
      expect(run.urns.filter((u) => !before.includes(u.urn) && !u.aliases.some((a) => before.includes(a))).map((u) => u.urn).sort()).toEqual([
        "urn:pulumi:dev::aide::aide:infra:Distribution$command:local:Command::agent-build",
        "urn:pulumi:dev::aide::aide:infra:Jobs::aide",
      ]);
    }
  });

  it("configures exactly three Nomad servers that all join the same three addresses", () => {
    const nomads = three.resources.filter((r) => /-nomad$/.test(r.name));
    expect(nomads.map((r) => stepVar(r, "AIDE_NOMAD_SERVER"))).toEqual(["true", "true", "true"]);
    expect(new Set(nomads.map((r) => stepVar(r, "AIDE_NOMAD_SERVERS")))).toEqual(new Set(["192.168.1.101 192.168.1.102 192.168.1.103"]));
    expect(stepVar(byName(three, "aide-03-firewall"), "AIDE_CLUSTER_ADDRESSES")).toBe("192.168.1.101 192.168.1.102 192.168.1.103");
    // Swap sized from the facts: an 8 GB Core 2 desktop (7900 MB usable) gets 3950 MB.
    expect(stepVar(byName(three, "aide-03-base"), "AIDE_SWAP_MB")).toBe("3950");
  });

  it("builds once per CPU class for twenty nodes: two classes, two builds, eighteen copies", async () => {
    // Odd-numbered desktops have AVX (a newer CPU); even ones are Core 2s.
    const facts = (name: string) => {
      const n = Number(name.slice(-2));
      return n % 2 === 1 ? coreTwoFacts(name, { cpuFlags: ["sse2", "ssse3", "sse4_1", "sse4_2", "avx"], avx: true, sse42: true }) : coreTwoFacts(name);
    };
    const twenty = await runProgram(validStack(20), secrets, facts);
    expect(twenty.error).toBeUndefined();
    expect(twenty.resources.filter((r) => r.type === "aide:infra:LegacyNode")).toHaveLength(20);
    expect(twenty.resources.filter((r) => /-nomad$/.test(r.name))).toHaveLength(20);
    expect(twenty.resources.filter((r) => /-nomad$/.test(r.name) && stepVar(r, "AIDE_NOMAD_SERVER") === "true").map((r) => r.name)).toEqual([
      "aide-01-nomad",
      "aide-02-nomad",
      "aide-03-nomad",
    ]);
    const plan = twenty.outputs.buildPlan as { builderOf: Record<string, string>; classOf?: Record<string, string> };
    expect(new Set(Object.values(plan.builderOf))).toEqual(new Set(["aide-01", "aide-02"]));
    const llama = twenty.resources.filter((r) => /-llama$/.test(r.name));
    expect(llama.filter((r) => stepVar(r, "AIDE_ROLE") === "build").map((r) => r.name)).toEqual(["aide-01-llama", "aide-02-llama"]);
    expect(stepVar(byName(twenty, "aide-01-llama"), "AIDE_PROFILE")).toBe("native");
    expect(stepVar(byName(twenty, "aide-02-llama"), "AIDE_PROFILE")).toBe("core2");
    // Only builders receive the 35 MB llama.cpp source; the others get the built engine.
    const from = (name: string) => plain(byName(twenty, name).inputs.environment).AIDE_FROM;
    expect(from("aide-01-llama-source")).toMatch(/^local:/);
    expect(from("aide-03-llama-source")).toBe("");
    expect(from("aide-01-engine-copy")).toBe("");
    expect(from("aide-17-engine-copy")).toBe("root@192.168.1.101:22:/opt/aide/engine");
    expect(from("aide-20-engine-copy")).toBe("root@192.168.1.102:22:/opt/aide/engine");
    // A new engine source (another node-llama-cpp bundle) changes the build step and
    // every copy's trigger, so builders rebuild and the rest copy again.
    const source = stepVar(byName(twenty, "aide-02-llama"), "AIDE_SOURCE_STAMP")!;
    expect(source).toMatch(/^[0-9a-f]{16}$/);
    expect(plain(byName(twenty, "aide-20-engine-copy").inputs.environment).AIDE_STAMP).toBe(`${plan.classOf?.["aide-20"]} ${source}`);
    expect(byName(twenty, "aide-20-engine-copy").inputs.triggers).toContain(`${plan.classOf?.["aide-20"]} ${source}`);
    expect(stepVar(byName(twenty, "aide-20-nomad"), "AIDE_META_CPU_FLAGS")).toBe("sse4_1");
    expect(stepVar(byName(twenty, "aide-19-nomad"), "AIDE_META_CPU_FLAGS")).toBe("sse4_1,sse4_2,avx");
  });

  it("switching the backend to primacpp swaps only the engine steps and the packages they need", async () => {
    const SHA = "b".repeat(64);
    const prima = await runProgram(validStack(3, { backend: "primacpp", primacpp: { source: { sha256: SHA } } }), secrets);
    expect(prima.error).toBeUndefined();
    const names = (run: ProgramRun) => new Set(run.resources.map((r) => r.name));
    const removed = [...names(three)].filter((n) => !names(prima).has(n)).sort();
    const added = [...names(prima)].filter((n) => !names(three).has(n)).sort();
    expect(removed).toEqual(["aide-01-llama", "aide-01-llama-source", "aide-02-llama", "aide-02-llama-source", "aide-03-llama", "aide-03-llama-source"]);
    expect(added).toEqual(["aide-01-primacpp", "aide-02-primacpp", "aide-03-primacpp"]);
    expect(stepVar(byName(prima, "aide-01-primacpp"), "AIDE_PRIMA_SHA256")).toBe(SHA);
    expect(stepVar(byName(prima, "aide-01-base"), "AIDE_PACKAGES")).toContain("libzmq3-dev");
    // With -lw on every rank neither prima's profiler (fio) nor its scheduler (HiGHS) runs.
    expect(stepVar(byName(prima, "aide-01-base"), "AIDE_PACKAGES")).not.toMatch(/\bfio\b/);
    expect(stepVar(byName(prima, "aide-01-primacpp"), "AIDE_HIGHS_URL")).toBeUndefined();
    // Everything else a node runs is byte-for-byte the same program: no needless updates.
    // (agent-tls carries the household CA's certificate, which these mocks make anew each run;
    // a real stack makes it once and keeps it in its state.)
    const changedInputs = [...names(three)]
      .filter((n) => names(prima).has(n) && !/-base$|-agent-tls$/.test(n))
      .filter((n) => JSON.stringify(plain(byName(three, n).inputs.stdin)) !== JSON.stringify(plain(byName(prima, n).inputs.stdin)));
    expect(changedInputs).toEqual([]);
    expect(prima.outputs.backend).toBe("primacpp");
  });

  it("creates nothing when the config is wrong, and says every problem at once", async () => {
    const run = await runProgram(validStack(3, { backend: "vllm", nodes: [{ name: "aide-01", address: "10.0.0.1" }] }), {});
    expect(run.error?.name).toBe("AideConfigError");
    const message = run.error!.message;
    for (const part of ["aide:backend", "aide:nodes: 1 node(s) listed", "aide:nodes[*].roles", "aide:sshPrivateKey", "aide:nomadGossipKey"]) expect(message).toContain(part);
    expect(message).toContain("pulumi config set --secret nomadGossipKey");
    expect(run.resources).toEqual([]);
  });
});
