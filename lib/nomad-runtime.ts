// What a Nomad client does to start a raw_exec task, done by hand so the job's exact
// command lines run on this machine (there is no Nomad binary here): render the task's
// templates, fill Nomad's runtime variables (NOMAD_PORT_*, NOMAD_IP_*, NOMAD_ADDR_*,
// NOMAD_ALLOC_DIR, NOMAD_TASK_DIR), interpolate `${…}` in args and env, and spawn.
//
// The template renderer understands exactly the Go-template constructs Aide's jobs use
// and throws on anything else, so a template change that this stand-in cannot follow
// fails the tests instead of passing untested.
import { ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Task, Template } from "../nomad-jobs";

export interface ServiceInstance { Address: string; Port: number; Tags: string[] }
export type ServiceRegistry = Record<string, ServiceInstance[]>;

// ---- template rendering ----
type Node =
  | { kind: "text"; text: string }
  | { kind: "field"; name: "Address" | "Port" }
  | { kind: "range"; service: string; body: Node[] }
  | { kind: "if"; cond: { kind: "first" } | { kind: "tag"; tag: string }; then: Node[]; else: Node[] };

function parseTemplate(src: string): Node[] {
  const tokens = src.split(/({{.*?}})/s).filter((t) => t !== "");
  let i = 0;
  const block = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const tok = tokens[i++];
      if (!tok.startsWith("{{")) { nodes.push({ kind: "text", text: tok }); continue; }
      const action = tok.slice(2, -2).trim();
      if (terminators.includes(action)) return { nodes, end: action };
      let m: RegExpMatchArray | null;
      if ((m = action.match(/^range \$i, \$s := nomadService "([a-z0-9-]+)"$/))) {
        nodes.push({ kind: "range", service: m[1], body: block(["end"]).nodes });
      } else if (action === "if eq $i 0") {
        const t = block(["end", "else"]);
        nodes.push({ kind: "if", cond: { kind: "first" }, then: t.nodes, else: t.end === "else" ? block(["end"]).nodes : [] });
      } else if ((m = action.match(/^if \.Tags \| contains "([a-z0-9-]+)"$/))) {
        const t = block(["end", "else"]);
        nodes.push({ kind: "if", cond: { kind: "tag", tag: m[1] }, then: t.nodes, else: t.end === "else" ? block(["end"]).nodes : [] });
      } else if (action === ".Address" || action === ".Port") {
        nodes.push({ kind: "field", name: action.slice(1) as "Address" | "Port" });
      } else {
        throw new Error(`template action {{ ${action} }} is not one this Nomad stand-in renders — teach lib/nomad-runtime.ts, or keep the job's template to the known forms`);
      }
    }
    if (terminators.length) throw new Error(`template ends inside a block: missing {{ ${terminators[0]} }}`);
    return { nodes, end: "" };
  };
  return block([]).nodes;
}

export function renderTemplate(src: string, services: ServiceRegistry): string {
  const run = (nodes: Node[], dot?: ServiceInstance, index?: number): string => nodes.map((n) => {
    switch (n.kind) {
      case "text": return n.text;
      case "field":
        if (!dot) throw new Error(`{{ .${n.name} }} outside a range`);
        return String(dot[n.name]);
      case "range": return (services[n.service] ?? []).map((s, i) => run(n.body, s, i)).join("");
      case "if": {
        const yes = n.cond.kind === "first" ? index === 0 : (dot?.Tags ?? []).includes(n.cond.tag);
        return run(yes ? n.then : n.else, dot, index);
      }
    }
  }).join("");
  return run(parseTemplate(src));
}

/** Nomad's env template format: KEY=VALUE lines. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq < 1) throw new Error(`env template line without KEY=VALUE: '${line}'`);
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

// ---- the task's environment and its interpolation ----
export interface TaskRuntime {
  /** Port label → [ip, port] given by "Nomad". */
  ports: Record<string, { ip: string; port: number }>;
  services?: ServiceRegistry;
  /** Run as the task's `User`, as a Nomad client does (needs root and that user here).
   * Off by default: most job tests run engines and models from this machine's cache under
   * /root, which the nodes' `aide` user could never read. */
  asTaskUser?: boolean;
}

/** A user as /etc/passwd has it. */
export interface TaskUser { name: string; uid: number; gid: number; home: string }

export function lookUpUser(name: string, passwd = "/etc/passwd"): TaskUser {
  const line = readFileSync(passwd, "utf8").split("\n").find((l) => l.split(":")[0] === name);
  if (!line) throw new Error(`user ${name} does not exist on this machine (${passwd}): a Nomad client would refuse the task too — infra/scripts/base.sh creates it on the nodes`);
  const f = line.split(":");
  return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
}

export interface PreparedTask {
  command: string;
  args: string[];
  env: Record<string, string>;
  taskRoot: string;
  /** Rendered template files by DestPath. */
  rendered: Record<string, string>;
  /** Who the task runs as, when the runtime honours Task.User. */
  user?: TaskUser;
}

function interpolate(value: string, vars: Record<string, string>, where: string): string {
  return value.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
    if (!(name in vars)) throw new Error(`${where}: \${${name}} is not a variable Nomad would provide to this task`);
    return vars[name];
  });
}

/** What Nomad does when a template's data changes: renders it again into the same file
 * of the running task (the change_mode — restart, signal — is the caller's to apply). */
export function rerenderTemplates(task: Task, prepared: PreparedTask, services: ServiceRegistry): Record<string, string> {
  for (const t of task.Templates ?? []) {
    const text = renderTemplate(t.EmbeddedTmpl, services);
    writeFileSync(join(prepared.taskRoot, t.DestPath), text);
    prepared.rendered[t.DestPath] = text;
  }
  return prepared.rendered;
}

export function prepareTask(task: Task, rt: TaskRuntime): PreparedTask {
  const taskRoot = mkdtempSync(join(tmpdir(), `aide-task-${task.Name}-`));
  const allocDir = join(taskRoot, "alloc");
  const taskDir = join(taskRoot, "local");
  // As a Nomad client lays out an allocation: alloc/{data,logs,tmp} shared by its tasks.
  for (const sub of ["data", "logs", "tmp"]) mkdirSync(join(allocDir, sub), { recursive: true });
  mkdirSync(taskDir, { recursive: true });
  const nomadVars: Record<string, string> = {
    NOMAD_ALLOC_DIR: allocDir,
    NOMAD_TASK_DIR: taskDir,
    NOMAD_SECRETS_DIR: join(taskRoot, "secrets"),
    NOMAD_TASK_NAME: task.Name,
  };
  for (const [label, { ip, port }] of Object.entries(rt.ports)) {
    nomadVars[`NOMAD_PORT_${label}`] = String(port);
    nomadVars[`NOMAD_IP_${label}`] = ip;
    nomadVars[`NOMAD_ADDR_${label}`] = `${ip}:${port}`;
    nomadVars[`NOMAD_HOST_PORT_${label}`] = String(port);
  }
  const rendered: Record<string, string> = {};
  let templateEnv: Record<string, string> = {};
  for (const t of task.Templates ?? ([] as Template[])) {
    const text = renderTemplate(t.EmbeddedTmpl, rt.services ?? {});
    const dest = join(taskRoot, t.DestPath);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, text);
    rendered[t.DestPath] = text;
    if (t.Envvars) templateEnv = { ...templateEnv, ...parseEnvFile(text) };
  }
  const vars = { ...nomadVars, ...templateEnv };
  const env: Record<string, string> = { ...nomadVars, ...templateEnv };
  for (const [k, v] of Object.entries(task.Env ?? {})) env[k] = interpolate(v, vars, `task ${task.Name} env ${k}`);
  const user = rt.asTaskUser && task.User ? lookUpUser(task.User) : undefined;
  if (user) {
    // Like Nomad's allocdir: the task may write its own directories and nothing around them.
    chmodSync(taskRoot, 0o755);
    for (const dir of [allocDir, taskDir]) chownSync(dir, user.uid, user.gid);
    for (const dest of Object.keys(rendered)) chownSync(join(taskRoot, dest), user.uid, user.gid);
  }
  return {
    user,
    command: interpolate(task.Config.command, vars, `task ${task.Name} command`),
    args: task.Config.args.map((a) => interpolate(a, vars, `task ${task.Name} args`)),
    env,
    taskRoot,
    rendered,
  };
}

export interface RunningTask {
  prepared: PreparedTask;
  child: ChildProcess;
  /** stdout and stderr interleaved. */
  log(): string;
  /** stdout alone: what Nomad's logs API serves as type=stdout. */
  stdout(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Spawns a prepared task like raw_exec: its working directory is the task root; PATH comes
 * from the client (here: this process), HOME too unless the task runs as its own user.
 * stdout/stderr are kept for the test. */
export function runTask(prepared: PreparedTask, opts: { netns?: string; wrapper?: string[] } = {}): RunningTask {
  // `ip netns exec` execs the command, so the child is the task itself (signals reach it).
  // A wrapper (the cluster lab's CPU budget) goes between and execs the task in turn.
  // The task's user: setpriv drops to it last, after the wrapper (which may need root).
  const user = prepared.user;
  const drop = user ? ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "--"] : [];
  const argv = [...(opts.wrapper ?? []), ...drop, prepared.command, ...prepared.args];
  const [command, args] = opts.netns
    ? ["ip", ["netns", "exec", opts.netns, ...argv]]
    : [argv[0], argv.slice(1)];
  const child = spawn(command, args, {
    cwd: prepared.taskRoot,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: user?.home ?? process.env.HOME ?? "/root", ...prepared.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let stdout = "";
  child.stdout!.on("data", (d: Buffer) => { out += d.toString(); stdout += d.toString(); });
  child.stderr!.on("data", (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    prepared,
    child,
    log: () => out,
    stdout: () => stdout,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls until `check` is true or the bound passes; the error carries the task's log. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, task?: RunningTask): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (task && task.child.exitCode !== null) throw new Error(`${what}: the task exited with ${task.child.exitCode}:\n${task.log().slice(-2000)}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s${task ? `:\n${task.log().slice(-2000)}` : ""}`);
}

export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status === 200;
}
