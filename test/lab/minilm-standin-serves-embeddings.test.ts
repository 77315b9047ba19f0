// The all-MiniLM-L6-v2 stand-in serves long-term memory's embeddings the way the real one
// does: llama-server --embeddings --pooling mean (the flags npm start uses), 384 values
// per input, a different vector for different text.
import { startLlamaServer, RunningProcess } from "../../lib/llama";
import { ensureStandIn } from "../../scripts/models/standins";
import { postJson } from "../support/chat";

describe("the MiniLM-L6 stand-in in llama-server", () => {
  let server: RunningProcess;

  beforeAll(async () => {
    const model = await ensureStandIn("minilm-l6");
    server = await startLlamaServer({
      model, threads: 1, ctxSize: 512, parallel: 1, cacheRamMiB: 0, extraArgs: ["--embeddings", "--pooling", "mean"],
    });
  }, 5 * 60_000);

  afterAll(async () => { await server?.stop(); });

  it("serves /v1/embeddings with 384 dimensions, one vector per input", async () => {
    const r = await postJson<{ data: { embedding: number[]; index: number }[] }>(`${server.url}/v1/embeddings`, {
      input: ["the cat sat on the mat", "what time is it"],
    });
    expect(r.status).toBe(200);
    expect(r.body.data.map((d) => d.embedding.length)).toEqual([384, 384]);
    const [a, b] = r.body.data.map((d) => d.embedding);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(a).not.toEqual(b);
    // llama-server normalizes pooled embeddings (Euclidean) by default.
    expect(Math.hypot(...a)).toBeCloseTo(1, 3);
  });
});
