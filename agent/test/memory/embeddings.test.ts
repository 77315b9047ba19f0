/**
 * Both embedding paths give the same vectors for the same text, the in-process one also
 * on a Core 2 (qemu core2duo: no SSE4.2, no AVX), the server's follows it when it moves,
 * and a bad model path is named.
 *
 * @needs qemu
 */
import type { RunningProcess } from "../../../lib/llama";
import { startLlamaServer } from "../../../lib/llama";
import { ensureTinyEmbeddingModel } from "../../../scripts/models/tiny";
import { LlamaServerEmbedder, NodeLlamaCppEmbedder } from "../../src/twin/memory/embedder";

const cosine = (a: number[], b: number[]) => {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
};

describe("embeddings", () => {
  let server: RunningProcess;
  let model: string;
  beforeAll(async () => {
    model = await ensureTinyEmbeddingModel();
    server = await startLlamaServer({ model, threads: 1, parallel: 1, ctxSize: 2048, extraArgs: ["--embeddings", "--pooling", "mean"] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const texts = ["my dog is called Rex", "I work as a nurse at the city hospital"];

  it("gives the same vectors from llama-server and from node-llama-cpp", async () => {
    const remote = await new LlamaServerEmbedder(server.url).embed(texts);
    const local = new NodeLlamaCppEmbedder(model, 1);
    try {
      const mine = await local.embed(texts);
      expect(mine.map((v) => v.length)).toEqual([128, 128]);
      for (let i = 0; i < texts.length; i++) expect(cosine(mine[i], remote[i])).toBeGreaterThan(0.999);
      // And different texts give different vectors.
      expect(cosine(mine[0], mine[1])).toBeLessThan(0.99);
    } finally {
      await local.close();
    }
  });

  it("runs node-llama-cpp's embedding worker on a Core 2 CPU (qemu core2duo)", async () => {
    const local = new NodeLlamaCppEmbedder(model, 1, ["qemu-x86_64", "-cpu", "core2duo"]);
    try {
      const [onCore2] = await local.embed([texts[0]]);
      const [native] = await new LlamaServerEmbedder(server.url).embed([texts[0]]);
      expect(cosine(onCore2, native)).toBeGreaterThan(0.999);
    } finally {
      await local.close();
    }
  });

  it("follows the embeddings server to where it moved (the agent's endpoints, re-read on SIGHUP)", async () => {
    let at = "http://127.0.0.1:9"; // where it was: nothing listens there now
    const embedder = new LlamaServerEmbedder(() => at);
    await expect(embedder.embed([texts[0]])).rejects.toThrow(/^embedding server at http:\/\/127\.0\.0\.1:9\/v1\/embeddings is unreachable/);
    at = server.url;
    const [moved] = await embedder.embed([texts[0]]);
    const [direct] = await new LlamaServerEmbedder(server.url).embed([texts[0]]);
    expect(cosine(moved, direct)).toBeGreaterThan(0.999);
  });

  it("names the model when node-llama-cpp cannot load it", async () => {
    const local = new NodeLlamaCppEmbedder("/nonexistent/embedding.gguf", 1);
    await expect(local.embed(["x"])).rejects.toThrow(/^node-llama-cpp embedder exited \(1\): cannot load \/nonexistent\/embedding\.gguf: /);
    await local.close();
  });
});
