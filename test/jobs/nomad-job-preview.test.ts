// What `pulumi preview` shows for a NomadJob: Nomad's plan for it, in words (run under
// Pulumi's mocks in preview mode, against the fake Nomad endpoint).
import type * as pulumiType from "@pulumi/pulumi";
import { llamaCppRpcJob } from "../../nomad-jobs";
import { FakeNomad } from "./support/fake-nomad";
import { rpcArgs } from "./support/fixtures";

describe("NomadJob in pulumi preview", () => {
  let nomad: FakeNomad;
  let address: string;
  const logged: string[] = [];
  const logSpy = jest.spyOn(console, "log").mockImplementation((...a: unknown[]) => { logged.push(a.join(" ")); });
  beforeAll(async () => {
    nomad = new FakeNomad();
    address = await nomad.start();
  });
  afterAll(async () => {
    logSpy.mockRestore();
    await nomad.stop();
  });

  async function preview(spec: ReturnType<typeof llamaCppRpcJob>, addr = address): Promise<string> {
    jest.resetModules();
    const pulumi: typeof pulumiType = require("@pulumi/pulumi");
    await pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs }, "aide", "dev", true);
    const { NomadJob } = require("../../infra/nomad-job") as typeof import("../../infra/nomad-job");
    logged.length = 0;
    new NomadJob("aide-llm", { connection: { address: addr }, spec });
    const deadline = Date.now() + 10_000;
    while (!logged.some((l) => l.includes("job aide-llm")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return logged.join("\n");
  }

  it("shows that a new job would be added, asking Nomad's plan endpoint", async () => {
    const text = await preview(llamaCppRpcJob(rpcArgs()));
    expect(text).toContain("job aide-llm: added");
    expect(text).toMatch(/group head: 1 place/);
    expect(nomad.requests.filter((r) => r.path === "/v1/job/aide-llm/plan")).toHaveLength(1);
    expect(nomad.jobs.size).toBe(0); // a preview registers nothing
  });

  it("says when Nomad cannot be asked yet, instead of failing the preview", async () => {
    const text = await preview(llamaCppRpcJob(rpcArgs()), "http://127.0.0.1:9");
    expect(text).toMatch(/job aide-llm: no plan from Nomad yet \(Nomad at http:\/\/127\.0\.0\.1:9: POST \/v1\/job\/aide-llm\/plan failed: ECONNREFUSED/);
  });
});
