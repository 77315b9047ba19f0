// Runs the Pulumi program (infra/index.ts) under Pulumi's own mocks: no CLI, no
// plugins, no SSH. Facts come from `factsFor`; every registered resource is recorded.
import { execSync } from "node:child_process";
import type * as pulumiType from "@pulumi/pulumi";
import type { NodeFacts } from "../../infra/config";

export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

/** A resource as the engine names it: its URN, and the URNs its aliases stand for. */
export interface Named {
  urn: string;
  aliases: string[];
}

export interface ProgramRun {
  resources: Registered[];
  /** Every registration's URN and alias URNs, resolved as the engine resolves them. */
  urns: Named[];
  /** Resource name → names of the resources it depends on (dependsOn, as the engine sees it). */
  dependsOn: Map<string, string[]>;
  /** What requiring the program threw (a config error), if anything. */
  error?: Error;
  outputs: Record<string, unknown>;
  /** The module's exports, still as Outputs (for isSecret and friends). */
  exports: Record<string, unknown>;
  pulumi: typeof pulumiType;
}

export function coreTwoFacts(name: string, extra: Partial<NodeFacts> = {}): NodeFacts {
  return {
    hostname: name,
    cpuModel: "Intel(R) Core(TM)2 Duo CPU E8400 @ 3.00GHz",
    cpuFlags: ["fpu", "sse", "sse2", "ssse3", "sse4_1"],
    sse41: true,
    sse42: false,
    avx: false,
    cores: 2,
    ramMb: 7900,
    diskFreeMb: 90000,
    debianVersion: "12.7",
    ...extra,
  };
}

/** A mock's view of a secret input: { <signature>: ..., value }. */
function unsecret(v: unknown): unknown {
  return typeof v === "object" && v !== null && "value" in v ? (v as { value: unknown }).value : v;
}

function unwrap<T>(pulumi: typeof pulumiType, name: string, o: unknown): Promise<T> {
  if (!pulumi.Output.isInstance(o)) return Promise.resolve(o as T);
  return new Promise((resolve, reject) => {
    // An exception inside the program's apply callbacks leaves an output unresolved forever.
    const timer = setTimeout(() => reject(new Error(`stack output ${name} did not resolve within 20 s`)), 20_000);
    (o as pulumiType.Output<T>).apply((v) => {
      clearTimeout(timer);
      resolve(v);
      return v;
    });
  });
}

/** The engine's URN: the parent's type chain, then the type and the name (a resource at
 * the top of the program has no parent here; the engine leaves the stack out of the chain). */
function urnOf(parent: string, type: string, name: string, stack = "dev", project = "aide"): string {
  const chain = parent ? `${parent.split("::")[2]}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${chain}::${name}`;
}

/** A registration's URN and its aliases' URNs: an alias spec leaves out what stays the same. */
function named(req: any): Named {
  const [type, name, parent] = [req.getType() as string, req.getName() as string, req.getParent() as string];
  const aliases = (req.getAliasesList() as any[]).map((a) => {
    if (a.hasUrn()) return a.getUrn() as string;
    const spec = a.getSpec();
    const aliasParent = spec.getNoparent() ? "" : spec.getParenturn() || parent;
    return urnOf(aliasParent, spec.getType() || type, spec.getName() || name, spec.getStack() || undefined, spec.getProject() || undefined);
  });
  return { urn: urnOf(parent, type, name), aliases };
}

export async function runProgram(
  stack: Record<string, unknown>,
  secrets: { sshPrivateKey?: string; nomadGossipKey?: string },
  factsFor: (node: string) => NodeFacts = coreTwoFacts,
): Promise<ProgramRun> {
  jest.resetModules();
  // A fresh SDK per run, so one run's stack and mocks never leak into the next.
  const pulumi: typeof pulumiType = require("@pulumi/pulumi");
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(stack)) config[`aide:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  const secretKeys: string[] = [];
  for (const [k, v] of Object.entries(secrets)) {
    if (v === undefined) continue;
    config[`aide:${k}`] = v;
    secretKeys.push(`aide:${k}`);
  }
  pulumi.runtime.setAllConfig(config, secretKeys);
  const resources: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.push({ type: args.type, name: args.name, inputs: args.inputs });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "command:remote:Command") {
          const facts = args.name.endsWith("-facts") ? JSON.stringify(factsFor(args.name.replace(/-facts$/, ""))) : "";
          state.stdout = `facts: read\n${facts}`;
          state.stderr = "";
        }
        // The household's CA, pairing code and the agent's certificate (infra/household.ts):
        // the real scripts/tls.ts, so the program gets real certificates to pass on.
        if (args.type === "command:local:Command" && String(args.inputs.create).includes("scripts/tls.ts")) {
          const env = Object.fromEntries(Object.entries((unsecret(args.inputs.environment) ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(unsecret(v))]));
          state.stdout = execSync(args.inputs.create, { cwd: args.inputs.dir, env: { ...process.env, ...env }, encoding: "utf8" });
        }
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    "aide",
    "dev",
    false,
  );
  const dependsOn = new Map<string, string[]>();
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: any, cb: any): unknown };
  const register = monitor.registerResource.bind(monitor);
  const urns: Named[] = [];
  monitor.registerResource = (req, cb) => {
    const names = (req.getDependenciesList() as string[]).map((urn) => urn.split("::").pop()!);
    dependsOn.set(req.getName(), names);
    urns.push(named(req));
    return register(req, cb);
  };
  let exports: Record<string, unknown>;
  try {
    exports = require("../../infra/index");
  } catch (error) {
    await new Promise((r) => setTimeout(r, 100));
    return { resources, urns, dependsOn, error: error as Error, outputs: {}, exports: {}, pulumi };
  }
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(exports)) outputs[k] = await unwrap(pulumi, k, v);
  // Wait until the SDK's queue of resource registrations has drained (an internal of
  // the SDK, but the one `pulumi up` itself waits on before it disconnects).
  const settings: { waitForRPCs(): Promise<void> } = require("@pulumi/pulumi/runtime/settings");
  await settings.waitForRPCs();
  return { resources, urns, dependsOn, outputs, exports, pulumi };
}
