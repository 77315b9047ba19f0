// `npm run bench:results` reads each llama-bench run back from the allocation logs
// (served here by the fake Nomad endpoint, with stdout captured from real llama-bench
// runs of the legacy build: test/jobs/fixtures) and shows the runs as one table.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BENCH_JOB_ID, BENCH_TASK } from "../../nomad-jobs";
import { fetchBenchRuns, formatBenchTable, parseBenchOutput } from "../../scripts/bench-results";
import { FakeNomad } from "./support/fake-nomad";

const fixture = (name: string) => readFileSync(join(__dirname, "fixtures", name), "utf8");
const LOCAL = fixture("llama-bench-tiny-local.stdout");
const RPC = fixture("llama-bench-tiny-rpc.stdout");

describe("bench results table", () => {
  let nomad: FakeNomad;
  let address: string;
  beforeEach(async () => {
    nomad = new FakeNomad();
    address = await nomad.start();
  });
  afterEach(async () => {
    await nomad.stop();
    expect(nomad.schemaViolations).toEqual([]);
  });

  it("parses llama-bench's JSON into prompt and generation speeds", () => {
    expect(parseBenchOutput(LOCAL)).toEqual([
      expect.objectContaining({ test: "pp16", backend: "CPU", threads: 1, tokensPerSecond: 1665.304465, stddevTokensPerSecond: 1632.874936 }),
      expect.objectContaining({ test: "tg8", backend: "CPU", threads: 1, tokensPerSecond: 4686.053667 }),
    ]);
    expect(parseBenchOutput(RPC)[0]).toMatchObject({ backend: "RPC", gpuLayers: 2, tensorSplit: "1.00/1.00" });
  });

  it("says what is wrong with output that is not llama-bench JSON", () => {
    expect(() => parseBenchOutput("main: error: failed to load model\n")).toThrow(/holds no JSON array \(was it run with -o json\?\)/);
    expect(() => parseBenchOutput(LOCAL.slice(0, 300))).toThrow(/ends inside its JSON array: the run was cut short/);
  });

  it("fetches every finished run from the allocation logs and lines them up for comparison", async () => {
    nomad.addCompletedAlloc(BENCH_JOB_ID, "bench", BENCH_TASK, LOCAL, { backend: "llamacpp-rpc", model: "aide-tiny", rpc: "no" });
    nomad.addCompletedAlloc(BENCH_JOB_ID, "bench", BENCH_TASK, RPC, { backend: "llamacpp-rpc", model: "aide-tiny", rpc: "yes" });
    nomad.addCompletedAlloc(BENCH_JOB_ID, "bench", BENCH_TASK, "", { backend: "primacpp", model: "aide-tiny" }, "failed");
    const runs = await fetchBenchRuns({ address });
    const logReads = nomad.requests.filter((r) => r.path.startsWith("/v1/client/fs/logs/"));
    expect(logReads).toHaveLength(3);
    expect(logReads[0].query).toEqual({ task: "llama-bench", type: "stdout", origin: "start", offset: "0", plain: "true" });

    const table = formatBenchTable(runs).split("\n");
    expect(table[0]).toMatch(/^finished \(UTC\) +node +stack backend +model +model type +size MiB +layers on +threads +test +tokens\/s$/);
    expect(table).toHaveLength(2 + 2 + 2 + 1);
    expect(table[2]).toMatch(/aide-01 +llamacpp-rpc +aide-tiny +llama \?B Q8_0 +0\.7 +CPU +1 +pp16 +1665\.30 ± 1632\.87$/);
    expect(table[3]).toMatch(/ tg8 +4686\.05 ± 4571\.31$/);
    expect(table[4]).toMatch(/RPC \(2 layers, split 1\.00\/1\.00\) +1 +pp16 +6511\.72 ± /);
    expect(table[6]).toMatch(/primacpp +aide-tiny .* failed +error: llama-bench output holds no JSON array .*\(Terminated: Exit Code: 1\)$/);
  });

  it("prints the table from the command line, and a clear error when Nomad is not there", async () => {
    nomad.addCompletedAlloc(BENCH_JOB_ID, "bench", BENCH_TASK, LOCAL, { backend: "llamacpp-rpc", model: "aide-tiny" });
    const run = (env: Record<string, string>) => promisify(execFile)(
      process.execPath, [require.resolve("ts-node/dist/bin"), "--transpile-only", "scripts/bench-results.ts"],
      { cwd: join(__dirname, "..", ".."), env: { ...process.env, ...env }, timeout: 60_000 },
    );
    const { stdout } = await run({ NOMAD_ADDR: address });
    expect(stdout).toMatch(/pp16 +1665\.30 ± 1632\.87\n/);
    await expect(run({ NOMAD_ADDR: "http://127.0.0.1:9" })).rejects.toMatchObject({
      code: 1, stderr: expect.stringContaining("bench-results: Nomad at http://127.0.0.1:9: GET /v1/job/aide-llama-bench/allocations failed: ECONNREFUSED — is Nomad running there and the address right?"),
    });
  });
});
