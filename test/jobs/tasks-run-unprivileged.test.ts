// Every task of every job runs as the unprivileged `aide` user, never as root. Here a
// job's task is started as a Nomad client starts it (its environment and directories,
// then dropped to its User) with a probe in place of its command: the probe must find a
// non-zero uid, write its own directories and its user's state, and be refused
// everywhere else it tries.
// @needs root
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { TASK_USER, voiceAgentJob } from "../../nomad-jobs";
import { agentArgs, allJobs } from "./support/fixtures";
import { lookUpUser, prepareTask, runTask } from "./support/nomad-runtime";

describe("tasks as the aide user", () => {
  let madeUser = false;
  const work = fs.mkdtempSync(path.join(tmpdir(), "aide-unprivileged-"));
  const rootOnly = path.join(work, "root-only");
  const secret = path.join(work, "root-secret");
  const state = path.join(work, "state");

  beforeAll(() => {
    // The nodes' user, made here as base.sh makes it there (and removed after, if made here).
    try {
      lookUpUser(TASK_USER);
    } catch {
      execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", TASK_USER]);
      madeUser = true;
    }
    const user = lookUpUser(TASK_USER);
    fs.chmodSync(work, 0o755);
    fs.mkdirSync(rootOnly, { mode: 0o755 });
    fs.writeFileSync(secret, "root's\n", { mode: 0o600 });
    fs.mkdirSync(state, { mode: 0o700 });
    fs.chownSync(state, user.uid, user.gid);
  });
  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
    if (madeUser) execFileSync("userdel", [TASK_USER]);
  });

  it("is what every job's every task asks for", () => {
    for (const [job, spec] of Object.entries(allJobs())) {
      for (const group of spec.Job.TaskGroups) for (const task of group.Tasks) expect(`${job}/${task.Name}: ${task.User}`).toBe(`${job}/${task.Name}: aide`);
    }
  });

  it("runs with a non-zero uid that may write its own directories and its state, and nothing else", async () => {
    const task = voiceAgentJob(agentArgs()).Job.TaskGroups[0].Tasks[0];
    const attempts = {
      "task dir": '"$NOMAD_TASK_DIR/probe"',
      "alloc dir": '"$NOMAD_ALLOC_DIR/probe"',
      "its state": `'${state}/probe'`,
      "a root-owned dir": `'${rootOnly}/probe'`,
      "/etc": "/etc/aide-probe",
      "/root": "/root/aide-probe",
      "/opt": "/opt/aide-probe",
      "/usr/local/bin": "/usr/local/bin/aide-probe",
    };
    const probe = [
      "echo uid=$(id -u) gid=$(id -g)",
      ...Object.entries(attempts).map(([what, file]) => `if (echo x > ${file}) 2>/dev/null; then echo "${what}: written"; else echo "${what}: refused"; fi`),
      `if cat '${secret}' >/dev/null 2>&1; then echo "root's 0600 file: read"; else echo "root's 0600 file: refused"; fi`,
    ].join("\n");
    const prepared = prepareTask({ ...task, Config: { command: "/bin/sh", args: ["-c", probe] } }, { ports: { http: { ip: "127.0.0.1", port: 8443 } }, asTaskUser: true });
    try {
      const running = runTask(prepared);
      expect(await running.exited).toBe(0);
      const lines = running.stdout().trim().split("\n");
      const user = lookUpUser(TASK_USER);
      expect(lines[0]).toBe(`uid=${user.uid} gid=${user.gid}`);
      expect(user.uid).toBeGreaterThan(0);
      expect(lines.slice(1)).toEqual([
        "task dir: written", "alloc dir: written", "its state: written",
        "a root-owned dir: refused", "/etc: refused", "/root: refused", "/opt: refused", "/usr/local/bin: refused",
        "root's 0600 file: refused",
      ]);
      for (const f of ["/etc/aide-probe", "/root/aide-probe", "/opt/aide-probe", "/usr/local/bin/aide-probe"]) expect(fs.existsSync(f)).toBe(false);
    } finally {
      fs.rmSync(prepared.taskRoot, { recursive: true, force: true });
    }
  });

  it("says which user is missing rather than running the task as someone else", () => {
    const task = voiceAgentJob(agentArgs()).Job.TaskGroups[0].Tasks[0];
    expect(() => prepareTask({ ...task, User: "no-such-user" }, { ports: { http: { ip: "127.0.0.1", port: 8443 } }, asTaskUser: true }))
      .toThrow("user no-such-user does not exist on this machine (/etc/passwd): a Nomad client would refuse the task too — infra/scripts/base.sh creates it on the nodes");
  });
});
