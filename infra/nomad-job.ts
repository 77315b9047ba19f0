// NomadJob: a Nomad job as a Pulumi resource, over Nomad's HTTP API (no plugin needed:
// @pulumi/nomad is not on the registry Aide can use).
//   diff   → POST /v1/job/:id/plan   (Nomad's own view of what would change)
//   create/update → POST /v1/jobs, then waits (bounded) for the allocations to be healthy
//   read   → GET /v1/job/:id
//   delete → DELETE /v1/job/:id?purge=true
// Pulumi serializes the provider's functions into its plugin process, so everything the
// provider calls lives in this file and uses only Node's built-in modules.
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as pulumi from "@pulumi/pulumi";
import type { NomadJobSpec } from "../nomad-jobs/types";

export interface NomadConnection {
  /** Nomad's HTTP API, e.g. `http://192.168.1.101:4646` (https with `caFile`). */
  address: string;
  /** ACL token (X-Nomad-Token); pass it as a Pulumi secret. */
  token?: string;
  /** PEM file of the CA that signed Nomad's HTTPS certificate. */
  caFile?: string;
  namespace?: string;
  region?: string;
}

interface ProviderInputs {
  connection: NomadConnection;
  spec: NomadJobSpec;
  /** How long create/update wait for healthy allocations. */
  waitSeconds: number;
  /** "healthy" (default): wait for every group; "registered": only register (a batch job
   * that may queue until the cluster has room, like the benchmark). */
  wait?: "healthy" | "registered";
}

interface ProviderOutputs extends ProviderInputs {
  jobId: string;
  /** Nomad's job version after the last registration. */
  version: number;
  jobModifyIndex: number;
}

// ---- the subset of Nomad's responses read here (names as in Nomad's API) ----
interface TaskEvent { Type?: string; DisplayMessage?: string; Message?: string; ExitCode?: number; Time?: number }
interface TaskState { State?: string; Failed?: boolean; Restarts?: number; Events?: TaskEvent[] }
interface AllocationStub {
  ID: string; TaskGroup: string; NodeName?: string; NodeID?: string; JobVersion?: number;
  ClientStatus: string; DesiredStatus: string; ClientDescription?: string;
  DeploymentStatus?: { Healthy?: boolean } | null; TaskStates?: Record<string, TaskState> | null;
}
interface AllocationMetric {
  NodesEvaluated?: number; NodesFiltered?: number; NodesExhausted?: number;
  ConstraintFiltered?: Record<string, number> | null; DimensionExhausted?: Record<string, number> | null;
  ClassFiltered?: Record<string, number> | null;
}
interface Evaluation { ID: string; Status: string; StatusDescription?: string; FailedTGAllocs?: Record<string, AllocationMetric> | null; BlockedEval?: string }
interface FieldDiff { Type: string; Name: string; Old?: string; New?: string }
interface ObjectDiff { Type: string; Name: string; Fields?: FieldDiff[] | null; Objects?: ObjectDiff[] | null }
interface TaskGroupDiff extends ObjectDiff { Tasks?: ObjectDiff[] | null }
export interface JobPlanResponse {
  Diff?: { Type: string; ID?: string; Fields?: FieldDiff[] | null; Objects?: ObjectDiff[] | null; TaskGroups?: TaskGroupDiff[] | null };
  Annotations?: { DesiredTGUpdates?: Record<string, Record<string, number>> | null } | null;
  FailedTGAllocs?: Record<string, AllocationMetric> | null;
  JobModifyIndex?: number;
  Warnings?: string;
}
interface NodeStub { Name: string; Address?: string; Status: string; SchedulingEligibility?: string; Drain?: boolean }

/** An HTTP answer from Nomad that was not a success. */
export class NomadApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = "NomadApiError";
  }
}

const REQUEST_TIMEOUT_MS = 30_000;
const POLL_MS = 2_000;

/** One call to Nomad's API; errors name Nomad's address, the call and the fix. The
 * token only ever travels in the X-Nomad-Token header, never in a message. */
export function nomadRequest<T>(conn: NomadConnection, method: string, path: string, body?: unknown, answer: "json" | "text" = "json"): Promise<T> {
  let base: URL;
  try {
    base = new URL(conn.address);
  } catch {
    return Promise.reject(new Error(`Nomad address '${conn.address}' is not a URL: set it like http://192.168.1.101:4646`));
  }
  const url = new URL(`/v1${path}`, base);
  if (conn.namespace) url.searchParams.set("namespace", conn.namespace);
  if (conn.region) url.searchParams.set("region", conn.region);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { Accept: answer === "json" ? "application/json" : "text/plain" };
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  if (conn.token) headers["X-Nomad-Token"] = conn.token;
  const isHttps = url.protocol === "https:";
  let ca: Buffer | undefined;
  if (conn.caFile) {
    try {
      ca = readFileSync(conn.caFile);
    } catch (e) {
      return Promise.reject(new Error(`Nomad CA file ${conn.caFile} cannot be read (${(e as NodeJS.ErrnoException).code}): point caFile at the CA certificate (PEM) that signed Nomad's HTTPS certificate`));
    }
  }
  const call = `${method} ${url.pathname}`;
  const where = `Nomad at ${base.origin}`;
  return new Promise<T>((resolve, reject) => {
    const req = (isHttps ? https : http).request(
      url,
      { method, headers, timeout: REQUEST_TIMEOUT_MS, ...(isHttps && ca ? { ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status === 403) {
            return reject(new NomadApiError(`${where} refused ${call} (403 ${text.trim() || "Permission denied"}): the ACL token is missing or lacks the job's namespace write capability — set the stack's Nomad token (pulumi config set --secret nomadToken …)`, status));
          }
          if (status < 200 || status >= 300) {
            return reject(new NomadApiError(`${where}: ${call} answered ${status}: ${text.trim().slice(0, 500)}`, status));
          }
          if (answer === "text") return resolve(text as T);
          if (!text) return resolve(undefined as T);
          try {
            resolve(JSON.parse(text) as T);
          } catch {
            reject(new Error(`${where}: ${call} answered with non-JSON text: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on("error", (e: NodeJS.ErrnoException) => {
      const hint = e.code === "ECONNREFUSED" || e.code === "EHOSTUNREACH" || e.code === "ETIMEDOUT"
        ? " — is Nomad running there and the address right?"
        : e.code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" || e.code === "SELF_SIGNED_CERT_IN_CHAIN" || e.code === "DEPTH_ZERO_SELF_SIGNED_CERT"
          ? " — set caFile to the CA that signed Nomad's certificate"
          : "";
      reject(new Error(`${where}: ${call} failed: ${e.code ?? e.message}${hint}`));
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

const jobPath = (id: string) => `/job/${encodeURIComponent(id)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function planJob(conn: NomadConnection, spec: NomadJobSpec): Promise<JobPlanResponse> {
  return nomadRequest<JobPlanResponse>(conn, "POST", `${jobPath(spec.Job.ID)}/plan`, { Job: spec.Job, Diff: true });
}

function describeMetric(group: string, m: AllocationMetric): string {
  const parts: string[] = [];
  for (const [constraint, n] of Object.entries(m.ConstraintFiltered ?? {})) parts.push(`constraint ${constraint} filtered out ${n} node(s)`);
  for (const [dim, n] of Object.entries(m.DimensionExhausted ?? {})) parts.push(`${dim} exhausted on ${n} node(s)`);
  for (const [cls, n] of Object.entries(m.ClassFiltered ?? {})) parts.push(`node class ${cls} filtered ${n}`);
  if (!parts.length) parts.push("no node could take it");
  return `group ${group}: ${parts.join("; ")} (${m.NodesEvaluated ?? 0} node(s) evaluated)`;
}

/** Nomad's metrics count nodes, not name them: for the constraints that pin a group to a
 * node, say what that node's state is. */
async function describePlacementFailure(conn: NomadConnection, spec: NomadJobSpec, failed: Record<string, AllocationMetric>): Promise<string> {
  let nodes: NodeStub[] = [];
  try {
    nodes = await nomadRequest<NodeStub[]>(conn, "GET", "/nodes");
  } catch {
    // the metrics alone still say which constraint failed
  }
  const lines = Object.entries(failed).map(([group, metric]) => {
    const line = describeMetric(group, metric);
    const tg = spec.Job.TaskGroups.find((g) => g.Name === group);
    const pinned = tg?.Constraints?.find((c) => c.LTarget === "${node.unique.name}" && c.Operand === "=");
    if (!pinned) return line;
    const node = nodes.find((n) => n.Name === pinned.RTarget);
    const state = !node
      ? `node ${pinned.RTarget} is not registered with Nomad (known: ${nodes.map((n) => n.Name).join(", ") || "none"}) — is its Nomad client running and named ${pinned.RTarget}?`
      : node.Status !== "ready"
        ? `node ${pinned.RTarget} is ${node.Status}`
        : node.SchedulingEligibility === "ineligible" || node.Drain
          ? `node ${pinned.RTarget} is ineligible or draining (nomad node eligibility -enable)`
          : `node ${pinned.RTarget} is ready but lacks the resources asked for`;
    return `${line} — ${state}`;
  });
  return `job ${spec.Job.ID} cannot be placed:\n  ${lines.join("\n  ")}`;
}

function lastEvents(state: TaskState, n = 3): string {
  return (state.Events ?? []).slice(-n)
    .map((e) => `${e.Type}${e.DisplayMessage || e.Message ? `: ${e.DisplayMessage || e.Message}` : ""}`)
    .join("; ");
}

/** The last lines a task wrote to stderr (Nomad's task events carry exit codes, not what
 * the program said), or undefined when the node cannot be asked. */
async function stderrTail(conn: NomadConnection, allocId: string, task: string, lines = 6): Promise<string | undefined> {
  try {
    const text = await nomadRequest<string>(conn, "GET",
      `/client/fs/logs/${encodeURIComponent(allocId)}?task=${encodeURIComponent(task)}&type=stderr&origin=end&offset=4000&plain=true`, undefined, "text");
    // ggml's abort handler attaches gdb, whose source-path chatter would bury the error line
    const noise = /^(\d+\t\.\.\/|#\d+ |\[Inferior |Using host libthread_db|0x[0-9a-f]+ in )/;
    const tail = text.split("\n").map((l) => l.trimEnd()).filter((l) => l && !noise.test(l)).map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l)).slice(-lines);
    return tail.length ? tail.join("\n      | ") : undefined;
  } catch {
    return undefined;
  }
}

/** One allocation per line; a task that failed or restarted also shows the end of its
 * stderr, and the command that shows all of it. */
async function describeAlloc(conn: NomadConnection, a: AllocationStub): Promise<string> {
  const tasks = await Promise.all(Object.entries(a.TaskStates ?? {}).map(async ([task, s]) => {
    const line = `task ${task} ${s.State ?? "?"}${s.Restarts ? ` after ${s.Restarts} restart(s)` : ""}${lastEvents(s) ? ` (${lastEvents(s)})` : ""}`;
    if (!s.Failed && !s.Restarts) return line;
    const tail = await stderrTail(conn, a.ID, task);
    return `${line} — its output: nomad alloc logs -stderr ${a.ID.slice(0, 8)} ${task}${tail ? `\n      | ${tail}` : ""}`;
  }));
  return `group ${a.TaskGroup} on ${a.NodeName ?? a.NodeID ?? "?"}: ${a.ClientStatus}${tasks.length ? ` — ${tasks.join(", ")}` : ""}`;
}

/** Registers the job and waits (bounded) until every group of this version is healthy
 * (a batch job: running or complete). Failed allocations' task events are the error. */
async function registerAndWait(inputs: ProviderInputs): Promise<ProviderOutputs> {
  const { connection: conn, spec } = inputs;
  const id = spec.Job.ID;
  const reg = await nomadRequest<{ EvalID?: string; JobModifyIndex?: number; Warnings?: string }>(conn, "POST", "/jobs", { Job: spec.Job });
  if (inputs.wait === "registered") {
    const job = await nomadRequest<{ Version?: number; JobModifyIndex?: number }>(conn, "GET", jobPath(id));
    return { ...inputs, jobId: id, version: job.Version ?? 0, jobModifyIndex: job.JobModifyIndex ?? reg.JobModifyIndex ?? 0 };
  }
  const deadline = Date.now() + inputs.waitSeconds * 1000;
  const timeLeft = () => deadline - Date.now();

  if (reg.EvalID) {
    let ev: Evaluation = await nomadRequest<Evaluation>(conn, "GET", `/evaluation/${encodeURIComponent(reg.EvalID)}`);
    while (ev.Status === "pending" && timeLeft() > 0) {
      await sleep(POLL_MS);
      ev = await nomadRequest<Evaluation>(conn, "GET", `/evaluation/${encodeURIComponent(reg.EvalID)}`);
    }
    if (ev.FailedTGAllocs && Object.keys(ev.FailedTGAllocs).length > 0) {
      throw new Error(await describePlacementFailure(conn, spec, ev.FailedTGAllocs));
    }
    if (ev.Status === "failed" || ev.Status === "canceled") {
      throw new Error(`job ${id}: Nomad's evaluation ${ev.Status}: ${ev.StatusDescription ?? ""}`);
    }
  }

  const job = await nomadRequest<{ Version?: number; JobModifyIndex?: number }>(conn, "GET", jobPath(id));
  const version = job.Version ?? 0;
  const batch = spec.Job.Type === "batch";
  let latest: AllocationStub[] = [];
  for (;;) {
    const allocs = await nomadRequest<AllocationStub[]>(conn, "GET", `${jobPath(id)}/allocations`);
    latest = allocs.filter((a) => a.JobVersion === undefined || a.JobVersion === version);
    const failed = latest.filter((a) => a.ClientStatus === "failed" || a.ClientStatus === "lost");
    if (failed.length) {
      const lines = await Promise.all(failed.map((a) => describeAlloc(conn, a)));
      throw new Error(`job ${id} version ${version} failed:\n  ${lines.join("\n  ")}`);
    }
    const healthy = (a: AllocationStub) => batch
      ? a.ClientStatus === "running" || a.ClientStatus === "complete"
      : a.ClientStatus === "running" && a.DeploymentStatus?.Healthy === true;
    const missing = spec.Job.TaskGroups.filter((g) => latest.filter((a) => a.TaskGroup === g.Name && healthy(a)).length < g.Count);
    if (!missing.length) break;
    if (timeLeft() <= 0) {
      const waiting = await Promise.all(missing.map(async (g) => {
        const mine = latest.filter((a) => a.TaskGroup === g.Name);
        return mine.length ? (await Promise.all(mine.map((a) => describeAlloc(conn, a)))).join("\n  ") : `group ${g.Name}: no allocation yet`;
      }));
      throw new Error(`job ${id} version ${version} not healthy after ${inputs.waitSeconds} s:\n  ${waiting.join("\n  ")}\n` +
        `(see: nomad job status ${id}; raise the wait with the NomadJob's waitSeconds if the model just loads slowly)`);
    }
    await sleep(Math.min(POLL_MS, Math.max(0, timeLeft())));
  }
  return { ...inputs, jobId: id, version, jobModifyIndex: job.JobModifyIndex ?? reg.JobModifyIndex ?? 0 };
}

/** What `pulumi preview` shows for a job: Nomad's plan, in one line per change. */
export function describePlan(spec: NomadJobSpec, plan: JobPlanResponse): string {
  const id = spec.Job.ID;
  const lines: string[] = [];
  const diffType = plan.Diff?.Type ?? "None";
  lines.push(`job ${id}: ${diffType === "None" ? "no change in Nomad" : diffType.toLowerCase()}`);
  for (const [group, u] of Object.entries(plan.Annotations?.DesiredTGUpdates ?? {})) {
    const counts = Object.entries(u).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase()}`);
    if (counts.length) lines.push(`  group ${group}: ${counts.join(", ")}`);
  }
  const walk = (prefix: string, o: { Type: string; Fields?: FieldDiff[] | null; Objects?: ObjectDiff[] | null }) => {
    for (const f of o.Fields ?? []) {
      if (f.Type !== "None") lines.push(`  ${prefix}${f.Name}: ${f.Old || "∅"} → ${f.New || "∅"}`);
    }
    for (const sub of o.Objects ?? []) if (sub.Type !== "None") walk(`${prefix}${sub.Name}.`, sub);
  };
  if (plan.Diff && diffType !== "Added") {
    walk("", plan.Diff);
    for (const g of plan.Diff.TaskGroups ?? []) {
      if (g.Type === "None") continue;
      if (g.Type !== "Edited") lines.push(`  group ${g.Name}: ${g.Type.toLowerCase()}`);
      walk(`${g.Name}.`, g);
      for (const t of g.Tasks ?? []) if (t.Type !== "None") walk(`${g.Name}.${t.Name}.`, t);
    }
  }
  for (const [group, m] of Object.entries(plan.FailedTGAllocs ?? {})) lines.push(`  would NOT place: ${describeMetric(group, m)}`);
  if (plan.Warnings) lines.push(`  warnings: ${plan.Warnings.trim()}`);
  return lines.join("\n");
}

function checkInputs(news: ProviderInputs): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const address = news.connection?.address;
  if (typeof address !== "string" || !/^https?:\/\/[^/\s]+/.test(address)) {
    failures.push({ property: "connection", reason: `Nomad address '${address}' must look like http://192.168.1.101:4646 (or https:// with caFile)` });
  }
  if (!news.spec?.Job?.ID || !Array.isArray(news.spec.Job.TaskGroups)) {
    failures.push({ property: "spec", reason: "no Nomad job JSON ({ Job: { ID, TaskGroups, … } }) — the error logged above says why (for the LLM: the layer plan)" });
  }
  if (news.wait !== undefined && news.wait !== "healthy" && news.wait !== "registered") {
    failures.push({ property: "wait", reason: `wait must be "healthy" or "registered", got ${JSON.stringify(news.wait)}` });
  }
  if (!(news.waitSeconds > 0)) failures.push({ property: "waitSeconds", reason: `waitSeconds must be > 0, got ${news.waitSeconds}` });
  return failures;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export const nomadJobProvider: pulumi.dynamic.ResourceProvider<ProviderInputs, ProviderOutputs> = {
  async check(_olds, news) {
    return { inputs: news, failures: checkInputs(news) };
  },

  async diff(_id, olds, news) {
    if (olds.spec.Job.ID !== news.spec.Job.ID) return { changes: true, replaces: ["spec"], deleteBeforeReplace: true };
    const local = !sameJson(olds.spec, news.spec) || !sameJson(olds.connection, news.connection) ||
      olds.waitSeconds !== news.waitSeconds || olds.wait !== news.wait;
    try {
      // Nomad's plan also sees drift: a job edited or stopped by hand shows as a change.
      const plan = await planJob(news.connection, news.spec);
      return { changes: local || (plan.Diff?.Type ?? "None") !== "None" };
    } catch {
      // Nomad unreachable at preview: the spec comparison alone decides.
      return { changes: local };
    }
  },

  async create(inputs) {
    const outs = await registerAndWait(inputs);
    return { id: outs.jobId, outs };
  },

  async update(_id, _olds, news) {
    return { outs: await registerAndWait(news) };
  },

  async read(id, props) {
    try {
      const job = await nomadRequest<{ Version?: number; JobModifyIndex?: number; Stop?: boolean }>(props!.connection, "GET", jobPath(id));
      return { id, props: { ...props!, version: job.Version ?? 0, jobModifyIndex: job.JobModifyIndex ?? 0 } };
    } catch (e) {
      if (e instanceof NomadApiError && e.status === 404) return {}; // gone: Pulumi will recreate it
      throw e;
    }
  },

  async delete(id, props) {
    try {
      await nomadRequest(props.connection, "DELETE", `${jobPath(id)}?purge=true`);
    } catch (e) {
      if (!(e instanceof NomadApiError && e.status === 404)) throw e;
    }
  },
};

export interface NomadJobArgs {
  connection: pulumi.Input<NomadConnection>;
  spec: pulumi.Input<NomadJobSpec>;
  /** Bound on waiting for healthy allocations after a registration (default 900 s). */
  waitSeconds?: pulumi.Input<number>;
  /** "registered" skips the wait (see ProviderInputs.wait). */
  wait?: "healthy" | "registered";
}

/** A Nomad job Pulumi registers, updates and deregisters. In `pulumi preview` it logs
 * Nomad's plan for the job (what would be placed, updated in place or replaced). */
export class NomadJob extends pulumi.dynamic.Resource {
  public readonly jobId!: pulumi.Output<string>;
  public readonly version!: pulumi.Output<number>;
  public readonly jobModifyIndex!: pulumi.Output<number>;

  constructor(name: string, args: NomadJobArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      nomadJobProvider,
      name,
      { connection: args.connection, spec: args.spec, waitSeconds: args.waitSeconds ?? 900, wait: args.wait ?? "healthy", jobId: undefined, version: undefined, jobModifyIndex: undefined },
      // the connection carries the ACL token
      { ...opts, additionalSecretOutputs: ["connection"] },
    );
    if (pulumi.runtime.isDryRun()) {
      pulumi.all([args.connection, args.spec]).apply(async ([conn, spec]) => {
        try {
          pulumi.log.info(describePlan(spec, await planJob(conn, spec)), this);
        } catch (e) {
          pulumi.log.info(`job ${spec.Job.ID}: no plan from Nomad yet (${(e as Error).message})`, this);
        }
      });
    }
  }
}
