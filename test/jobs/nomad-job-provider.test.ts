// The NomadJob provider's create/diff/update/read/delete, run against a local endpoint
// that answers with Nomad's documented shapes (test/jobs/support/fake-nomad.ts).
// @slow: runs the Pulumi engine for each provider operation (about 30 s alone)
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { describePlan, nomadJobProvider, planJob } from "../../infra/nomad-job";
import { llamaCppRpcJob, llamaBenchJob } from "../../nomad-jobs";
import { FakeNomad } from "./support/fake-nomad";
import { mainTask, rpcArgs } from "./support/fixtures";

const provider = nomadJobProvider as Required<typeof nomadJobProvider>;
const TOKEN = "s3cr3t-acl-token-0000";

describe("NomadJob provider", () => {
  let nomad: FakeNomad;
  let address: string;
  const inputs = (spec = llamaCppRpcJob(rpcArgs()), waitSeconds = 20) => ({ connection: { address, token: TOKEN }, spec, waitSeconds });

  beforeEach(async () => {
    nomad = new FakeNomad();
    nomad.requiredToken = TOKEN;
    address = await nomad.start();
  });
  afterEach(async () => {
    await nomad.stop();
    // the fake's answers matched Nomad's OpenAPI description throughout
    expect(nomad.schemaViolations).toEqual([]);
  });

  it("registers the job and returns once every group is healthy", async () => {
    const spec = llamaCppRpcJob(rpcArgs());
    const { id, outs } = await provider.create(inputs(spec));
    expect(id).toBe("aide-llm");
    expect(outs).toMatchObject({ jobId: "aide-llm", version: 0 });
    const reg = nomad.requests.find((r) => r.method === "POST" && r.path === "/v1/jobs")!;
    expect(reg.body).toEqual({ Job: spec.Job });
    expect(reg.headers["x-nomad-token"]).toBe(TOKEN);
    // it waited: the allocations were read until healthy (pending → running+healthy)
    expect(nomad.requests.filter((r) => r.path === "/v1/job/aide-llm/allocations").length).toBeGreaterThanOrEqual(2);
    const allocs = nomad.jobs.get("aide-llm")!.allocs;
    expect(allocs.map((a) => [a.TaskGroup, a.ClientStatus, a.Healthy])).toEqual([
      ["rpc-aide-02", "running", true], ["rpc-aide-03", "running", true], ["head", "running", true],
    ]);
  });

  it("fails with the failed allocation's task events in the error", async () => {
    nomad.outcome = {
      kind: "task-fails", group: "head", task: "llama-server",
      events: [
        { Type: "Started", DisplayMessage: "Task started by client" },
        { Type: "Terminated", DisplayMessage: "Exit Code: 1, Exit Message: \"failed to connect to rpc server 192.168.1.103:24571\"", ExitCode: 1 },
        { Type: "Not Restarting", DisplayMessage: "Exceeded allowed attempts 5 in interval 5m0s" },
      ],
      // what the legacy llama-server build printed when given a worker list with a gap
      stderr: "x".repeat(5000) + "\n" + readFileSync(join(__dirname, "fixtures", "llama-server-bad-rpc-list.stderr"), "utf8"),
    };
    await expect(provider.create(inputs())).rejects.toThrow(
      /job aide-llm version 0 failed:\n {2}group head on aide-01: failed — (task wait-for-rpc-workers [^,]+, )?task llama-server dead after 2 restart\(s\) \(Started: .*Terminated: Exit Code: 1, Exit Message: "failed to connect to rpc server 192.168.1.103:24571"; Not Restarting: Exceeded allowed attempts 5 in interval 5m0s\) — its output: nomad alloc logs -stderr [0-9a-f]{8} llama-server\n {6}\| x{300}…\n {6}\| [0-9.]+ I srv {2}llama_server: initializing \.\.\.\n {6}\| \/.*\/ggml-rpc\.cpp:539: Failed to parse endpoint:$/,
    );
  });

  it("says which constraint failed and what state the pinned node is in when a group cannot be placed", async () => {
    nomad.outcome = { kind: "unplaceable", group: "rpc-aide-03", constraint: "${node.unique.name} = aide-03", filtered: 2 };
    await expect(provider.create(inputs())).rejects.toThrow(
      "job aide-llm cannot be placed:\n  group rpc-aide-03: constraint ${node.unique.name} = aide-03 filtered out 2 node(s) (3 node(s) evaluated) — node aide-03 is down",
    );
  });

  it("names a pinned node Nomad has never heard of", async () => {
    nomad.outcome = { kind: "unplaceable", group: "rpc-aide-03", constraint: "${node.unique.name} = aide-03", filtered: 3 };
    nomad.nodes = nomad.nodes.filter((n) => n.Name !== "aide-03");
    await expect(provider.create(inputs())).rejects.toThrow(
      /node aide-03 is not registered with Nomad \(known: aide-01, aide-02\) — is its Nomad client running and named aide-03\?/,
    );
  });

  it("stops waiting at its bound and reports what each group is doing", async () => {
    nomad.outcome = { kind: "never-healthy" };
    const started = Date.now();
    await expect(provider.create(inputs(undefined, 3))).rejects.toThrow(
      /job aide-llm version 0 not healthy after 3 s:\n {2}group rpc-aide-02 on aide-01: running — task ggml-rpc-server pending \(Received: Task received by client\)/,
    );
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it("waits for a batch job only until it runs", async () => {
    const bench = llamaBenchJob({ datacenters: ["dc1"], binDir: "/b", modelPath: "/m.gguf", modelAlias: "m", backend: "llamacpp-rpc", node: "aide-01", threads: 2, memoryMB: 100, cpuMHz: 100 });
    const { outs } = await provider.create(inputs(bench));
    expect(outs!.jobId).toBe("aide-llama-bench");
  });

  it("only registers a job told not to wait, even one the cluster cannot place yet", async () => {
    nomad.outcome = { kind: "never-healthy" };
    const started = Date.now();
    const { outs } = await provider.create({ ...inputs(undefined, 600), wait: "registered" });
    expect(outs).toMatchObject({ jobId: "aide-llm", version: 0, wait: "registered" });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(nomad.requests.some((r) => r.path.endsWith("/allocations"))).toBe(false);
  });

  it("diffs through Nomad's plan: no change, a changed spec, and drift made by hand", async () => {
    const spec = llamaCppRpcJob(rpcArgs());
    const { outs } = await provider.create(inputs(spec));
    expect(await provider.diff("aide-llm", outs!, inputs(spec))).toEqual({ changes: false });
    const plan = nomad.requests.filter((r) => r.path === "/v1/job/aide-llm/plan").pop()!;
    expect(plan.body).toEqual({ Job: spec.Job, Diff: true });

    const changed = llamaCppRpcJob(rpcArgs({ contextSize: 8192 }));
    expect(await provider.diff("aide-llm", outs!, inputs(changed))).toEqual({ changes: true });

    // someone edited the job in Nomad: same spec locally, but Nomad's plan sees a change
    mainTask(nomad.jobs.get("aide-llm")!.job.TaskGroups[2]).Config.args.push("--verbose");
    expect(await provider.diff("aide-llm", outs!, inputs(spec))).toEqual({ changes: true });
  });

  it("falls back to comparing specs when Nomad cannot be reached during preview", async () => {
    const spec = llamaCppRpcJob(rpcArgs());
    const { outs } = await provider.create(inputs(spec));
    await nomad.stop();
    expect(await provider.diff("aide-llm", outs!, inputs(spec))).toEqual({ changes: false });
    expect(await provider.diff("aide-llm", outs!, inputs(llamaCppRpcJob(rpcArgs({ parallel: 2 }))))).toEqual({ changes: true });
    address = await (nomad = new FakeNomad()).start(); // for afterEach
  });

  it("replaces the job when its ID changes", async () => {
    const spec = llamaCppRpcJob(rpcArgs());
    const { outs } = await provider.create(inputs(spec));
    const renamed = { Job: { ...spec.Job, ID: "other" } };
    expect(await provider.diff("aide-llm", outs!, inputs(renamed))).toEqual({ changes: true, replaces: ["spec"], deleteBeforeReplace: true });
  });

  it("explains Nomad's plan in words for pulumi preview", async () => {
    const spec = llamaCppRpcJob(rpcArgs());
    await provider.create(inputs(spec));
    const changed = llamaCppRpcJob(rpcArgs({ workers: [{ ...rpcArgs().workers[0], share: 20 }], offloadedLayers: 20 }));
    const text = describePlan(changed, await planJob({ address, token: TOKEN }, changed));
    expect(text).toContain("job aide-llm: edited");
    expect(text).toContain("group head: 1 destructive update");
    expect(text).toContain("group rpc-aide-03: 1 stop");
    expect(text).toMatch(/head\.llama-server\.args: .*-ngl 18 --tensor-split 10,8 → .*-ngl 20 --tensor-split 20/);
  });

  it("updates by registering the new version and waiting for it", async () => {
    const { outs } = await provider.create(inputs());
    const next = inputs(llamaCppRpcJob(rpcArgs({ contextSize: 8192 })));
    const { outs: updated } = await provider.update("aide-llm", outs!, next);
    expect(updated).toMatchObject({ version: 1 });
    expect(nomad.requests.filter((r) => r.method === "POST" && r.path === "/v1/jobs")).toHaveLength(2);
  });

  it("reads the job's version, and reports a job deleted by hand as gone", async () => {
    const { outs } = await provider.create(inputs());
    expect(await provider.read("aide-llm", outs!)).toMatchObject({ id: "aide-llm", props: { version: 0 } });
    nomad.jobs.delete("aide-llm");
    expect(await provider.read("aide-llm", outs!)).toEqual({});
  });

  it("deregisters with purge, and tolerates a job that is already gone", async () => {
    const { outs } = await provider.create(inputs());
    await provider.delete("aide-llm", outs!);
    const del = nomad.requests.find((r) => r.method === "DELETE")!;
    expect([del.path, del.query]).toEqual(["/v1/job/aide-llm", { purge: "true" }]);
    expect(nomad.jobs.has("aide-llm")).toBe(false);
    await expect(provider.delete("aide-llm", outs!)).resolves.toBeUndefined();
  });

  it("says the token is wrong without ever printing it", async () => {
    nomad.requiredToken = "the-right-one";
    const err = await provider.create(inputs()).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/refused POST \/v1\/jobs \(403 Permission denied\): the ACL token is missing/);
    expect(err?.message).not.toContain(TOKEN);
  });

  it("rejects an address that is not a URL at check time", async () => {
    const { failures } = await provider.check({} as never, { ...inputs(), connection: { address: "192.168.1.101:4646" } });
    expect(failures).toEqual([{ property: "connection", reason: "Nomad address '192.168.1.101:4646' must look like http://192.168.1.101:4646 (or https:// with caFile)" }]);
  });

  it("still works after Pulumi serializes it into its plugin process", async () => {
    const fn = await pulumi.runtime.serializeFunction(() => nomadJobProvider, { allowSecrets: true });
    // small: it captured this file and Node built-ins, not the Pulumi SDK or the jobs
    expect(fn.text.length).toBeLessThan(100_000);
    const dir = mkdtempSync(join(tmpdir(), "aide-provider-"));
    writeFileSync(join(dir, "provider.js"), fn.text);
    writeFileSync(join(dir, "run.js"), `
      const p = require("./provider.js").${fn.exportName}();
      p.create(JSON.parse(process.argv[2])).then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e.message); process.exit(1); });
    `);
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, "run.js"), JSON.stringify(inputs())], { cwd: dir, timeout: 30_000 });
    expect(JSON.parse(stdout)).toMatchObject({ id: "aide-llm", outs: { version: 0 } });
  });
});
