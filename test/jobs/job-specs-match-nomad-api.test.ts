// Every job Aide registers is accepted by Nomad's own API description, strictly: an
// unknown or misspelt field fails here instead of being dropped by Nomad at run time.
import { llamaBenchJob, llamaCppRpcJob, primaCppJob, voiceAgentJob } from "../../nomad-jobs";
import { agentArgs, allJobs, primaArgs, rpcArgs } from "./support/fixtures";
import { prepareTask } from "./support/nomad-runtime";
import { nomadSchemaErrors } from "./support/openapi";

describe("Nomad job specs", () => {
  it.each(Object.entries(allJobs()))("%s is a valid job registration for Nomad's API", (_name, spec) => {
    expect(nomadSchemaErrors("JobRegisterRequest", spec)).toEqual([]);
    // and survives the JSON round trip `nomad job run -json` would do
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  it.each(Object.entries(allJobs()))("%s uses only variables Nomad provides to each task", (_name, spec) => {
    for (const g of spec.Job.TaskGroups) {
      const labels = (g.Networks ?? []).flatMap((n) => [...(n.DynamicPorts ?? []), ...(n.ReservedPorts ?? [])]).map((p) => p.Label);
      // Nomad's own rule for port labels (they become NOMAD_PORT_<label>): letters, digits, underscores
      for (const l of labels) expect(l).toMatch(/^[a-zA-Z0-9_]+$/);
      const ports = Object.fromEntries(labels.map((l, i) => [l, { ip: "10.0.0.9", port: 20000 + i }]));
      for (const task of g.Tasks) {
        const prepared = prepareTask(task, { ports });
        expect(JSON.stringify([prepared.args, prepared.env])).not.toContain("${");
        // every service and check names a port its group has
        for (const svc of task.Services ?? []) expect(labels).toContain(svc.PortLabel);
      }
    }
  });

  it("catches a variable the task would not have (a port label its group lacks)", () => {
    const task = llamaCppRpcJob(rpcArgs()).Job.TaskGroups[0].Tasks[0];
    task.Config.args.push("--port", "${NOMAD_PORT_api}");
    expect(() => prepareTask(task, { ports: { rpc: { ip: "10.0.0.9", port: 20000 } } }))
      .toThrow("task ggml-rpc-server args: ${NOMAD_PORT_api} is not a variable Nomad would provide to this task");
  });

  it("rejects a job with a field Nomad does not know, naming the field", () => {
    const spec = llamaCppRpcJob(rpcArgs());
    (spec.Job.TaskGroups[0].Tasks[0] as unknown as Record<string, unknown>).Cmd = "oops";
    (spec.Job.TaskGroups[0] as unknown as Record<string, unknown>).Restart = {};
    expect(nomadSchemaErrors("JobRegisterRequest", spec)).toEqual([
      "JobRegisterRequest/Job/TaskGroups/0 must NOT have additional properties: 'Restart'",
      "JobRegisterRequest/Job/TaskGroups/0/Tasks/0 must NOT have additional properties: 'Cmd'",
    ]);
  });

  it("rejects a duration given as text instead of nanoseconds", () => {
    const spec = voiceAgentJob(agentArgs());
    (spec.Job.TaskGroups[0].RestartPolicy as unknown as Record<string, unknown>).Delay = "10s";
    expect(nomadSchemaErrors("JobRegisterRequest", spec)).toEqual(["JobRegisterRequest/Job/TaskGroups/0/RestartPolicy/Delay must be integer"]);
  });

  it("refuses node names that could inject into templates or command lines", () => {
    const bad = 'aide-02" }}{{ env "NOMAD_TOKEN';
    expect(() => llamaCppRpcJob(rpcArgs({ workers: [{ node: bad, threads: 1, memoryMB: 1, cpuMHz: 1, share: 1 }] })))
      .toThrow(/node name 'aide-02" }}.*is not usable as a Nomad name/);
    expect(() => primaCppJob(primaArgs({ ranks: [{ ...primaArgs().ranks[0], node: "a;reboot" }] }))).toThrow(/node name 'a;reboot'/);
    expect(() => primaCppJob(primaArgs({ ranks: [{ ...primaArgs().ranks[0], address: "1.2.3.4 --rank 0" }] })))
      .toThrow(/aide-01 has address '1.2.3.4 --rank 0', which is not an IPv4 address/);
  });

  it("refuses a worker node name too long for its RPC service names, saying how long it may be", () => {
    const node = `aide-${"x".repeat(45)}`; // 50 characters: a valid name, but aide-rpc-bench-<node> would have 65
    const workers = [{ node, threads: 1, memoryMB: 1, cpuMHz: 1, share: 1 }];
    const why = `node name '${node}' is too long for an RPC worker: its service 'aide-rpc-bench-${node}' has 65 characters and Nomad allows 63 (rename the node to 48 characters or fewer in the stack config)`;
    expect(() => llamaCppRpcJob(rpcArgs({ workers }))).toThrow(why);
    expect(() => llamaBenchJob({
      datacenters: ["dc1"], binDir: "/b", modelPath: "/m.gguf", modelAlias: "m", backend: "llamacpp-rpc", node: "aide-01", threads: 1, memoryMB: 1, cpuMHz: 1,
      rpc: { workers: [{ node, share: 1 }], offloadedLayers: 1 },
    })).toThrow(why);
    // 48 characters fit
    expect(() => llamaCppRpcJob(rpcArgs({ workers: [{ ...workers[0], node: node.slice(0, 48) }] }))).not.toThrow();
  });

  it("refuses a K/V cache type the planner does not count RAM for", () => {
    expect(() => llamaCppRpcJob(rpcArgs({ kvCacheType: "q8_0" as never }))).toThrow('K/V cache type "q8_0": use "f16" or "f32" (the layer plan\'s kvCacheType)');
    expect(llamaCppRpcJob(rpcArgs({ kvCacheType: "f32" })).Job.TaskGroups.flatMap((g) => g.Tasks.flatMap((t) => (t.Config as { args?: string[] }).args ?? [])).join(" ")).toContain("--cache-type-k f32 --cache-type-v f32");
  });

  it("refuses relative paths, which raw_exec would resolve inside the task directory", () => {
    expect(() => llamaCppRpcJob(rpcArgs({ modelPath: "models/x.gguf" }))).toThrow("model path must be an absolute path on the node, got 'models/x.gguf'");
    expect(() => llamaCppRpcJob(rpcArgs({ modelPath: "/m/${NOMAD_TOKEN}.gguf" })))
      .toThrow("model path '/m/${NOMAD_TOKEN}.gguf' contains '${', which Nomad would read as a variable: rename the path");
  });
});
