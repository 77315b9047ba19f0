// The primacpp job's recovery, run for real: every rank's and the ring keeper's exact
// command lines from the job, stand-in ranks that hang the way a real ring does when a
// rank dies (support/stand-in-prima-rank.mjs; the words come from a real llama-server on
// the generated tiny model), and a small Nomad client here that starts, restarts and
// kills tasks as the job says (KillSignal, then SIGKILL after KillTimeout), behind the
// fake Nomad API the keeper talks to.
// @slow: kills and restarts ring ranks and waits out their KillTimeouts (about 50 s alone)
import { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM_JOB_ID, primaCppJob, Task } from "../../nomad-jobs";
import { RunningProcess, freePort, startLlamaServer } from "../../lib/llama";
import { ensureTinyChatModel } from "../../scripts/models/tiny";
import { FakeNomad } from "./support/fake-nomad";
import { primaArgs } from "./support/fixtures";
import { httpOk, PreparedTask, prepareTask, runTask, RunningTask, waitFor } from "./support/nomad-runtime";
import { nomadSchemaErrors } from "./support/openapi";

const STAND_IN = join(__dirname, "support", "stand-in-prima-rank.mjs");
const WORLD = 3;

/** `n` consecutive free ports (the ring binds base + rank on every "host", here one). */
async function freeRun(n: number): Promise<number> {
  for (;;) {
    const base = await freePort();
    const free = await Promise.all(Array.from({ length: n - 1 }, (_, i) => new Promise<boolean>((resolve) => {
      const s = net.createServer().once("error", () => resolve(false)).listen(base + i + 1, "127.0.0.1", () => s.close(() => resolve(true)));
    })));
    if (free.every(Boolean)) return base;
  }
}

interface Placed { task: Task; prepared: PreparedTask; running: RunningTask; allocId: string; kills: string[] }

describe("prima.cpp ring: a dead rank is noticed and the whole ring restarted", () => {
  let llama: RunningProcess;
  const nomad = new FakeNomad();
  const placed = new Map<string, Placed>(); // by task name + rank
  const signals: string[] = [];
  let apiPort: number;

  /** What a Nomad client does to stop a task: its KillSignal, then SIGKILL after KillTimeout. */
  async function stopTask(p: Placed): Promise<void> {
    const child: ChildProcess = p.running.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill((p.task.KillSignal ?? "SIGTERM") as NodeJS.Signals);
    const timeout = setTimeout(() => { p.kills.push("SIGKILL"); child.kill("SIGKILL"); }, (p.task.KillTimeout ?? 5e9) / 1e6);
    await p.running.exited;
    clearTimeout(timeout);
  }

  let closing = false;
  afterAll(async () => {
    closing = true;
    for (const p of placed.values()) p.running.child.kill("SIGKILL");
    await nomad.stop();
    await llama?.stop();
  });

  it("is wired as Nomad accepts it: a keeper sidecar on rank 0, no check_restart of rank 0 alone, SIGKILL after the kill timeout", () => {
    const job = primaCppJob(primaArgs());
    expect(nomadSchemaErrors("JobRegisterRequest", job)).toEqual([]);
    const head = job.Job.TaskGroups[0];
    expect(head.Tasks.map((t) => t.Name)).toEqual(["llama-server", "ring-keeper"]);
    expect(head.Tasks[1].Lifecycle).toEqual({ Hook: "poststart", Sidecar: true });
    expect(head.Tasks[1].Env).toMatchObject({ AIDE_JOB_ID: LLM_JOB_ID, AIDE_RING_WORLD: "3", AIDE_LLM_URL: "http://${NOMAD_ADDR_http}" });
    expect(head.Tasks[0].Services![0].Checks!.every((c) => c.CheckRestart === undefined)).toBe(true);
    for (const g of job.Job.TaskGroups) {
      // A healthy ring stops within 6 s of SIGTERM; a rank whose peer is gone needs the SIGKILL after this.
      expect(g.Tasks[0].KillSignal).toBe("SIGTERM");
      expect(g.Tasks[0].KillTimeout).toBeGreaterThan(6e9);
      expect(g.Tasks[0].KillTimeout).toBeLessThanOrEqual(30e9); // Nomad clients' default max_kill_timeout
      // The keeper stops ranks with SIGKILL and relies on the restart policy to start them again, soon.
      expect(g.RestartPolicy).toMatchObject({ Mode: "delay" });
      expect(g.RestartPolicy!.Delay).toBeLessThanOrEqual(15e9);
    }
  });

  it("stops every rank, workers first, and lets Nomad start them all again once a dead rank comes back — the ring answers again", async () => {
    llama = await startLlamaServer({ model: await ensureTinyChatModel(), threads: 1, parallel: 1, ctxSize: 512, readyTimeoutMs: 60_000 });
    const bin = mkdtempSync(join(tmpdir(), "aide-prima-bin-"));
    for (const name of ["llama-server", "llama-cli"]) {
      writeFileSync(join(bin, name), `#!/bin/sh\nexec '${process.execPath}' '${STAND_IN}' "$@"\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const ranks = Array.from({ length: WORLD }, (_, i) => ({ node: `aide-0${i + 1}`, address: "127.0.0.1", threads: 1, layers: 1, memoryMB: 100, cpuMHz: 1000 }));
    const job = primaCppJob(primaArgs({
      binDir: bin, modelPath: "/tmp/tiny.gguf", nodeBinary: process.execPath, ranks,
      ringCheck: { intervalS: 1, timeoutS: 1, failures: 2, loadDeadlineS: 30 },
    }));
    const nomadUrl = await nomad.start();
    const dataBase = await freeRun(WORLD);
    apiPort = await freePort();

    const start = (key: string, task: Task, prepared: PreparedTask, allocId: string) => {
      const running = runTask(prepared);
      const prev = placed.get(key);
      placed.set(key, { task, prepared, running, allocId, kills: prev?.kills ?? [] });
    };
    job.Job.TaskGroups.forEach((g, r) => {
      const allocId = nomad.addRunningAlloc(LLM_JOB_ID, g.Name, g.Tasks.map((t) => t.Name));
      for (const task of g.Tasks) {
        const prepared = prepareTask(task, { ports: { http: { ip: "127.0.0.1", port: apiPort }, data: { ip: "127.0.0.1", port: dataBase + r }, signal: { ip: "127.0.0.1", port: 0 } } });
        // This machine is shared: the ring's fixed ports move to free ones, and "Nomad" is the fake.
        prepared.args = prepared.args.map((a, i) => (prepared.args[i - 1] === "--data-port" ? String(dataBase) : a));
        prepared.env.STAND_IN_LLAMA_URL = llama.url;
        if (task.Name === "ring-keeper") prepared.env.AIDE_NOMAD_ADDR = nomadUrl;
        start(`${task.Name}-${r}`, task, prepared, allocId);
      }
    });
    // A task killed through Nomad's signal API comes back by the group's restart policy, after its delay.
    nomad.onSignal = async (allocId, taskName, signal) => {
      const [key, p] = [...placed].find(([, x]) => x.allocId === allocId && x.task.Name === taskName)!;
      signals.push(`${key} ${signal}`);
      p.running.child.kill(signal as NodeJS.Signals);
      await p.running.exited;
      const group = job.Job.TaskGroups.find((g) => g.Tasks.includes(p.task))!;
      setTimeout(() => {
        if (closing) return;
        start(key, p.task, p.prepared, allocId);
        nomad.countRestart(allocId, taskName);
      }, group.RestartPolicy!.Delay! / 1e6);
    };
    const api = `http://127.0.0.1:${apiPort}`;
    const oneToken = async () => {
      const res = await fetch(`${api}/completion`, { method: "POST", body: JSON.stringify({ prompt: "hi", n_predict: 1 }), signal: AbortSignal.timeout(2000) });
      await res.text();
      return res.status === 200;
    };
    await waitFor("the ring formed and answering", oneToken, 30_000, placed.get("llama-server-0")!.running);

    // A rank dies mid-answer: the stream stalls with no error, /health stays 200.
    const stream = await fetch(`${api}/completion`, { method: "POST", body: JSON.stringify({ prompt: "tell me", n_predict: 200, stream: true }) });
    const reader = stream.body!.getReader();
    await reader.read();
    placed.get("llama-cli-2")!.running.child.kill("SIGKILL");
    const stalled = await Promise.race([reader.read().then(() => reader.read()).then(() => reader.read()).then(() => "moved"), new Promise((r) => setTimeout(() => r("stalled"), 3000))]);
    expect(stalled).toBe("stalled");
    expect(await httpOk(`${api}/health`)).toBe(true);
    void reader.cancel().catch(() => undefined);

    // Nomad's restart policy brings the dead worker back on its own — which alone cannot help.
    const dead = placed.get("llama-cli-2")!;
    start("llama-cli-2", dead.task, dead.prepared, dead.allocId);
    nomad.countRestart(dead.allocId, "llama-cli");
    const back = Date.now();

    await waitFor("the ring answering again", oneToken, 60_000, placed.get("ring-keeper-0")!.running);
    const recoveredAfterMs = Date.now() - back;
    // The keeper stopped every rank through Nomad's API, the workers from the last, then rank 0,
    // and Nomad's restart policy started them all again.
    expect(signals).toEqual(["llama-cli-2 SIGKILL", "llama-cli-1 SIGKILL", "llama-server-0 SIGKILL"]);
    expect(placed.get("ring-keeper-0")!.running.log()).toMatch(/restarting the whole ring \(rank 2 came back alone\)/);
    expect(recoveredAfterMs).toBeLessThan(60_000);
    console.log(`ring recovered ${(recoveredAfterMs / 1000).toFixed(1)} s after the dead rank came back`);

    // A desktop dies and Nomad places its rank again once it is back: a new allocation.
    signals.length = 0;
    const lost = placed.get("llama-cli-1")!;
    lost.running.child.kill("SIGKILL");
    nomad.setClientStatus(lost.allocId, "lost");
    await new Promise((r) => setTimeout(r, 1000));
    const group1 = job.Job.TaskGroups[1];
    const placedAgain = Date.now();
    start("llama-cli-1", lost.task, lost.prepared, nomad.addRunningAlloc(LLM_JOB_ID, group1.Name, group1.Tasks.map((t) => t.Name)));
    await waitFor("the ring answering after the rank was placed again", oneToken, 60_000, placed.get("ring-keeper-0")!.running);
    const replacedAfterMs = Date.now() - placedAgain;
    expect(signals.slice(-3)).toEqual(["llama-cli-2 SIGKILL", "llama-cli-1 SIGKILL", "llama-server-0 SIGKILL"]);
    expect(replacedAfterMs).toBeLessThan(60_000);
    console.log(`ring recovered ${(replacedAfterMs / 1000).toFixed(1)} s after the rank was placed again`);

    // A worker freezes (no crash, nothing restarts): the probes keep failing, and after
    // `failures` of them the keeper restarts the ring all the same.
    signals.length = 0;
    placed.get("llama-cli-2")!.running.child.kill("SIGSTOP");
    const frozen = Date.now();
    await oneToken().catch(() => false); // a request that now hangs
    await waitFor("the ring answering after a frozen rank", oneToken, 60_000, placed.get("ring-keeper-0")!.running);
    expect(placed.get("ring-keeper-0")!.running.log()).toMatch(/restarting the whole ring \(no answer in 2 probes\)/);
    expect(signals).toEqual(["llama-cli-2 SIGKILL", "llama-cli-1 SIGKILL", "llama-server-0 SIGKILL"]);
    console.log(`ring recovered ${((Date.now() - frozen) / 1000).toFixed(1)} s after a rank froze`);

    // The job is stopped while a peer is gone: rank 0 ignores SIGTERM, and the SIGKILL after
    // the job's kill timeout stops it all the same. (The keeper stops first, as a sidecar does.)
    await stopTask(placed.get("ring-keeper-0")!);
    placed.get("llama-cli-1")!.running.child.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    const head = placed.get("llama-server-0")!;
    const stopping = Date.now();
    await stopTask(head);
    expect(head.running.log()).toContain("ignoring SIGTERM: a peer is gone");
    expect(head.kills).toEqual(["SIGKILL"]);
    expect(Date.now() - stopping).toBeLessThan(head.task.KillTimeout! / 1e6 + 2000);
  }, 180_000);
});
