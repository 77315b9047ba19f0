// Every job Aide registers is accepted by Nomad's own API description, strictly: an
// unknown or misspelt field fails here instead of being dropped by Nomad at run time.
import { llamaCppRpcJob, primaCppJob, voiceAgentJob } from "../../nomad-jobs";
import { agentArgs, allJobs, primaArgs, rpcArgs } from "./support/fixtures";
import { nomadSchemaErrors } from "./support/openapi";

describe("Nomad job specs", () => {
  it.each(Object.entries(allJobs()))("%s is a valid job registration for Nomad's API", (_name, spec) => {
    expect(nomadSchemaErrors("JobRegisterRequest", spec)).toEqual([]);
    // and survives the JSON round trip `nomad job run -json` would do
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
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

  it("refuses relative paths, which raw_exec would resolve inside the task directory", () => {
    expect(() => llamaCppRpcJob(rpcArgs({ modelPath: "models/x.gguf" }))).toThrow("model path must be an absolute path on the node, got 'models/x.gguf'");
  });
});
