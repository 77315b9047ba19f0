// A local HTTP endpoint that answers like Nomad's API (the request/response shapes of
// its documentation: jobs, plan, evaluations, allocations, nodes, client logs) and
// records every request. There is no Nomad binary here; this is the stand-in
// DESIGN.md names. Requests with a job body are validated strictly against Nomad's
// OpenAPI description, as Nomad itself would reject them; responses are validated too,
// so the fake cannot drift from the real shapes.
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import { AddressInfo } from "node:net";
import type { Job, NomadJobSpec } from "../../../nomad-jobs";
import { nomadSchemaErrors } from "./openapi";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/** What the fake cluster does with a registered job. */
export type Outcome =
  | { kind: "healthy"; afterPolls?: number }
  | { kind: "task-fails"; group: string; task: string; events: Array<{ Type: string; DisplayMessage: string; ExitCode?: number }>; stderr?: string }
  | { kind: "unplaceable"; group: string; constraint: string; filtered: number }
  | { kind: "never-healthy" };

interface StoredJob { job: Job & Record<string, unknown>; version: number; modifyIndex: number; allocs: Alloc[]; polls: number; history: Array<Job & { Version: number }> }
interface Alloc { modifyTime: number; ID: string; TaskGroup: string; NodeName: string; NodeID: string; JobVersion: number; ClientStatus: string; DesiredStatus: string; Healthy?: boolean; TaskStates: Record<string, unknown>; logs: Record<string, string> }

export interface FakeNodeStub { Name: string; Address: string; Status: string; SchedulingEligibility: string; Drain: boolean }

export class FakeNomad {
  readonly requests: RecordedRequest[] = [];
  readonly jobs = new Map<string, StoredJob>();
  readonly evals = new Map<string, Record<string, unknown>>();
  outcome: Outcome = { kind: "healthy" };
  nodes: FakeNodeStub[] = [
    { Name: "aide-01", Address: "192.168.1.101", Status: "ready", SchedulingEligibility: "eligible", Drain: false },
    { Name: "aide-02", Address: "192.168.1.102", Status: "ready", SchedulingEligibility: "eligible", Drain: false },
    { Name: "aide-03", Address: "192.168.1.103", Status: "down", SchedulingEligibility: "eligible", Drain: false },
  ];
  /** When set, every request must carry this X-Nomad-Token. */
  requiredToken?: string;
  /** stdout of the allocations' tasks, served by /v1/client/fs/logs. */
  taskStdout: Record<string, string> = {};
  schemaViolations: string[] = [];
  /** What signalling a task does (POST /v1/client/allocation/:id/signal). */
  onSignal?: (allocId: string, task: string, signal: string) => Promise<void>;
  private index = 100;
  private server: http.Server | https.Server = http.createServer((req, res) => this.handle(req, res));

  /** Listens on loopback; with `tls`, serves HTTPS with that key and certificate. */
  async start(tls?: { key: string; cert: string }): Promise<string> {
    if (tls) this.server = https.createServer(tls, (req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    return `${tls ? "https" : "http"}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Puts a completed allocation with the given task stdout under a job (for log reads). */
  addCompletedAlloc(jobId: string, group: string, task: string, stdout: string, meta: Record<string, string> = {}, status = "complete"): string {
    const stored = this.store({ ID: jobId, Name: jobId, Type: "batch", Datacenters: ["dc1"], Meta: meta, TaskGroups: [] } as Job);
    const alloc = this.alloc(group, stored.version, status, { [task]: { State: "dead", Failed: status === "failed", Restarts: 0, Events: status === "failed" ? [{ Type: "Terminated", DisplayMessage: "Exit Code: 1" }] : [] } });
    alloc.logs[task] = stdout;
    stored.allocs.push(alloc);
    return alloc.ID;
  }

  /** Puts a running allocation of `group` under a job, its tasks running (for the ring keeper's view). */
  addRunningAlloc(jobId: string, group: string, tasks: string[]): string {
    const stored = this.jobs.get(jobId) ?? this.store({ ID: jobId, Name: jobId, Type: "service", Datacenters: ["dc1"], TaskGroups: [] } as unknown as Job);
    const now = new Date().toISOString();
    const alloc = this.alloc(group, stored.version, "running", Object.fromEntries(tasks.map((t) => [t, { State: "running", Failed: false, Restarts: 0, StartedAt: now, Events: [] }])));
    stored.allocs.push(alloc);
    return alloc.ID;
  }

  /** An allocation whose node went away (`lost`) or that finished. */
  setClientStatus(allocId: string, status: "lost" | "complete" | "failed"): void {
    const alloc = [...this.jobs.values()].flatMap((j) => j.allocs).find((a) => a.ID === allocId);
    if (!alloc) throw new Error(`no allocation ${allocId}`);
    alloc.ClientStatus = status;
  }

  /** A task that Nomad restarted by its restart policy (or that came back): its restart count goes up. */
  countRestart(allocId: string, task: string): void {
    const alloc = [...this.jobs.values()].flatMap((j) => j.allocs).find((a) => a.ID === allocId);
    const state = alloc?.TaskStates[task] as { Restarts: number; LastRestart?: string } | undefined;
    if (!state) throw new Error(`no task ${task} in allocation ${allocId}`);
    state.Restarts++;
    state.LastRestart = new Date().toISOString();
  }

  private store(job: Job): StoredJob {
    const prev = this.jobs.get(job.ID);
    const stored: StoredJob = {
      job: { ...job } as StoredJob["job"],
      version: prev ? prev.version + 1 : 0,
      modifyIndex: ++this.index,
      allocs: prev?.allocs ?? [],
      polls: 0,
      history: prev?.history ?? [],
    };
    stored.history.push({ ...job, Version: stored.version });
    this.jobs.set(job.ID, stored);
    return stored;
  }

  private alloc(group: string, version: number, status: string, states: Record<string, unknown>): Alloc {
    return { modifyTime: Date.now() * 1e6 + this.index++, ID: randomUUID(), TaskGroup: group, NodeName: "aide-01", NodeID: randomUUID(), JobVersion: version, ClientStatus: status, DesiredStatus: "run", TaskStates: states, logs: {} };
  }

  private checked(schema: string, body: unknown): unknown {
    for (const e of nomadSchemaErrors(schema, body)) this.schemaViolations.push(`response ${e}`);
    return body;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const text = Buffer.concat(chunks).toString("utf8");
      const body = text ? JSON.parse(text) : undefined;
      this.requests.push({ method: req.method ?? "", path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
      const send = (status: number, payload: unknown, contentType = "application/json") => {
        res.writeHead(status, { "Content-Type": contentType, "X-Nomad-Index": String(this.index) });
        res.end(typeof payload === "string" ? payload : JSON.stringify(payload));
      };
      if (this.requiredToken && req.headers["x-nomad-token"] !== this.requiredToken) return send(403, "Permission denied", "text/plain");
      try {
        this.route(req.method ?? "GET", url, body, send);
      } catch (e) {
        send(500, String((e as Error).message), "text/plain");
      }
    });
  }

  private route(method: string, url: URL, body: any, send: (s: number, p: unknown, ct?: string) => void): void {
    const p = url.pathname;
    let m: RegExpMatchArray | null;
    if (method === "POST" && p === "/v1/jobs") {
      const errors = nomadSchemaErrors("JobRegisterRequest", body);
      if (errors.length) return send(400, `invalid job: ${errors.join("; ")}`, "text/plain");
      return send(200, this.checked("JobRegisterResponse", this.register((body as NomadJobSpec).Job)));
    }
    if (method === "POST" && (m = p.match(/^\/v1\/job\/([^/]+)\/plan$/))) {
      const errors = nomadSchemaErrors("JobPlanRequest", body);
      if (errors.length) return send(400, `invalid job: ${errors.join("; ")}`, "text/plain");
      return send(200, this.checked("JobPlanResponse", this.plan(decodeURIComponent(m[1]), body.Job)));
    }
    if (method === "GET" && (m = p.match(/^\/v1\/job\/([^/]+)\/allocations$/))) {
      const stored = this.jobs.get(decodeURIComponent(m[1]));
      if (!stored) return send(200, []);
      this.advance(stored);
      const stubs = stored.allocs.map((a) => ({
        ID: a.ID, EvalID: randomUUID(), Name: `${stored.job.ID}.${a.TaskGroup}[0]`, NodeID: a.NodeID, NodeName: a.NodeName,
        JobID: stored.job.ID, JobType: stored.job.Type, JobVersion: a.JobVersion, TaskGroup: a.TaskGroup,
        DesiredStatus: a.DesiredStatus, DesiredDescription: "", ClientStatus: a.ClientStatus, ClientDescription: "",
        DeploymentStatus: a.Healthy === undefined ? undefined : { Healthy: a.Healthy, Canary: false, ModifyIndex: this.index },
        TaskStates: a.TaskStates, CreateIndex: this.index, ModifyIndex: this.index, CreateTime: a.modifyTime, ModifyTime: a.modifyTime,
      }));
      for (const s of stubs) this.checked("AllocationListStub", s);
      return send(200, stubs);
    }
    if (method === "GET" && (m = p.match(/^\/v1\/job\/([^/]+)\/versions$/))) {
      const stored = this.jobs.get(decodeURIComponent(m[1]));
      if (!stored) return send(404, "job versions not found", "text/plain");
      return send(200, this.checked("JobVersionsResponse", { Versions: [...stored.history].reverse(), Diffs: [], KnownLeader: true, LastContact: 0, LastIndex: this.index }));
    }
    if ((m = p.match(/^\/v1\/job\/([^/]+)$/))) {
      const id = decodeURIComponent(m[1]);
      const stored = this.jobs.get(id);
      if (!stored) return send(404, "job not found", "text/plain");
      if (method === "GET") {
        return send(200, this.checked("Job", { ...stored.job, Version: stored.version, JobModifyIndex: stored.modifyIndex, Status: "running", Stop: false }));
      }
      if (method === "DELETE") {
        if (url.searchParams.get("purge") === "true") this.jobs.delete(id);
        else stored.job.Stop = true;
        return send(200, this.checked("JobDeregisterResponse", { EvalID: randomUUID(), EvalCreateIndex: ++this.index, JobModifyIndex: this.index }));
      }
    }
    if (method === "GET" && (m = p.match(/^\/v1\/evaluation\/([^/]+)$/))) {
      const ev = this.evals.get(m[1]);
      return ev ? send(200, this.checked("Evaluation", ev)) : send(404, "eval not found", "text/plain");
    }
    if (method === "GET" && p === "/v1/nodes") return send(200, this.nodes);
    if ((method === "POST" || method === "PUT") && (m = p.match(/^\/v1\/client\/allocation\/([^/]+)\/signal$/))) {
      const alloc = [...this.jobs.values()].flatMap((j) => j.allocs).find((a) => a.ID === m![1]);
      if (!alloc) return send(404, "Unknown allocation", "text/plain");
      const { Task: task, Signal: signal } = (body ?? {}) as { Task?: string; Signal?: string };
      if (!task || !(task in alloc.TaskStates)) return send(400, `Unknown task name: ${String(task)}`, "text/plain");
      if (!signal || !/^SIG[A-Z0-9]+$/.test(signal)) return send(400, `Invalid signal: ${String(signal)}`, "text/plain");
      void (this.onSignal?.(alloc.ID, task, signal) ?? Promise.resolve()).then(() => send(200, {}), (e: Error) => send(500, e.message, "text/plain"));
      return;
    }
    if (method === "GET" && (m = p.match(/^\/v1\/client\/fs\/logs\/([^/]+)$/))) {
      const alloc = [...this.jobs.values()].flatMap((j) => j.allocs).find((a) => a.ID === m![1]);
      if (!alloc) return send(404, "unknown allocation ID", "text/plain");
      const task = url.searchParams.get("task") ?? "";
      const type = url.searchParams.get("type");
      if ((type !== "stdout" && type !== "stderr") || url.searchParams.get("plain") !== "true") return send(400, "this fake serves plain stdout/stderr only", "text/plain");
      const key = type === "stdout" ? task : `${task}.stderr`;
      if (!(key in alloc.logs)) return send(404, `task ${task} not found in allocation`, "text/plain");
      // origin=end&offset=N: the last N bytes, as Nomad's logs API serves them
      const text = alloc.logs[key];
      const offset = Number(url.searchParams.get("offset") ?? 0);
      return send(200, url.searchParams.get("origin") === "end" ? text.slice(Math.max(0, text.length - offset)) : text.slice(offset), "text/plain");
    }
    send(404, `fake Nomad has no route for ${method} ${p}`, "text/plain");
  }

  private register(job: Job): Record<string, unknown> {
    const stored = this.store(job);
    const evalId = randomUUID();
    const o = this.outcome;
    const ev: Record<string, unknown> = { ID: evalId, JobID: job.ID, Status: "complete", Type: job.Type, TriggeredBy: "job-register", CreateIndex: this.index, ModifyIndex: this.index };
    if (o.kind === "unplaceable") {
      ev.FailedTGAllocs = { [o.group]: { NodesEvaluated: this.nodes.length, NodesFiltered: o.filtered, ConstraintFiltered: { [o.constraint]: o.filtered }, NodesExhausted: 0 } };
      ev.BlockedEval = randomUUID();
    }
    this.evals.set(evalId, ev);
    return { EvalID: evalId, EvalCreateIndex: this.index, JobModifyIndex: stored.modifyIndex, Warnings: "", KnownLeader: true, LastContact: 0 };
  }

  /** Moves the job's allocations one step along the chosen outcome. */
  private advance(stored: StoredJob): void {
    const o = this.outcome;
    stored.polls++;
    if (o.kind === "unplaceable") return;
    const current = stored.allocs.filter((a) => a.JobVersion === stored.version);
    if (!current.length) {
      for (const g of stored.job.TaskGroups) {
        const states = Object.fromEntries(g.Tasks.map((t) => [t.Name, { State: "pending", Failed: false, Restarts: 0, Events: [{ Type: "Received", DisplayMessage: "Task received by client", Time: Date.now() * 1e6 }] }]));
        stored.allocs.push(this.alloc(g.Name, stored.version, "pending", states));
      }
      return;
    }
    for (const a of current) {
      if (a.ClientStatus === "complete" || a.ClientStatus === "failed") continue;
      if (o.kind === "task-fails" && a.TaskGroup === o.group) {
        a.ClientStatus = "failed";
        a.TaskStates[o.task] = { State: "dead", Failed: true, Restarts: 2, Events: o.events.map((e) => ({ ...e, Time: Date.now() * 1e6 })) };
        if (o.stderr !== undefined) a.logs[`${o.task}.stderr`] = o.stderr;
      } else if (o.kind !== "never-healthy" && stored.polls > (o.kind === "healthy" ? o.afterPolls ?? 1 : 1)) {
        a.ClientStatus = "running";
        if (stored.job.Type === "service") a.Healthy = true;
      } else {
        a.ClientStatus = "running";
        if (stored.job.Type === "service") a.Healthy = false;
      }
    }
  }

  private plan(id: string, job: Job): Record<string, unknown> {
    const stored = this.jobs.get(id);
    const before = stored?.job;
    const groupDiffs = job.TaskGroups.map((g) => {
      const old = before?.TaskGroups.find((x) => x.Name === g.Name);
      const type = !old ? "Added" : JSON.stringify(old) === JSON.stringify(g) ? "None" : "Edited";
      const tasks = g.Tasks.map((t) => {
        const ot = old?.Tasks.find((x) => x.Name === t.Name);
        const args = (ot?.Config.args ?? []).join(" ");
        const newArgs = t.Config.args.join(" ");
        const fields = ot && args !== newArgs ? [{ Type: "Edited", Name: "args", Old: args, New: newArgs, Annotations: ["forces create/destroy update"] }] : [];
        return { Name: t.Name, Type: !ot ? "Added" : fields.length || JSON.stringify(ot) !== JSON.stringify(t) ? "Edited" : "None", Fields: fields, Objects: [], Annotations: [] };
      });
      return { Name: g.Name, Type: type, Fields: [], Objects: [], Tasks: tasks, Updates: type === "Added" ? { create: 1 } : type === "Edited" ? { "create/destroy update": 1 } : { ignore: 1 } };
    });
    const removed = (before?.TaskGroups ?? []).filter((g) => !job.TaskGroups.some((n) => n.Name === g.Name))
      .map((g) => ({ Name: g.Name, Type: "Deleted", Fields: [], Objects: [], Tasks: [], Updates: { stop: 1 } }));
    const all = [...groupDiffs, ...removed];
    const type = !before ? "Added" : all.every((g) => g.Type === "None") ? "None" : "Edited";
    const desired = Object.fromEntries(all.map((g) => [g.Name, {
      Place: g.Type === "Added" ? 1 : 0, DestructiveUpdate: g.Type === "Edited" ? 1 : 0, InPlaceUpdate: 0,
      Stop: g.Type === "Deleted" ? 1 : 0, Ignore: g.Type === "None" ? 1 : 0, Migrate: 0, Canary: 0, Preemptions: 0,
    }]));
    const failed = this.outcome.kind === "unplaceable"
      ? { [this.outcome.group]: { NodesEvaluated: this.nodes.length, NodesFiltered: this.outcome.filtered, ConstraintFiltered: { [this.outcome.constraint]: this.outcome.filtered } } }
      : undefined;
    return {
      Diff: { ID: id, Type: type, Fields: [], Objects: [], TaskGroups: all },
      Annotations: { DesiredTGUpdates: desired, PreemptedAllocs: [] },
      ...(failed ? { FailedTGAllocs: failed } : {}),
      JobModifyIndex: stored?.modifyIndex ?? 0,
      CreatedEvals: [],
      Warnings: "",
    };
  }
}
