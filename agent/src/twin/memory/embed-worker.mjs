// node-llama-cpp embedding worker (ESM, run by NodeLlamaCppEmbedder as a child process).
// stdin: one JSON line per request {id, texts}; stdout: {ready} once, then {id, vectors} or {id, error}.
import { createInterface } from "node:readline";

const [modelPath, threads] = process.argv.slice(2);
/** One clean last line on stderr: the parent puts it in its error message. */
function fail(message) {
  process.stderr.write(`\n${message}\n`);
  process.exit(1);
}
const { getLlama } = await import("node-llama-cpp").catch((error) =>
  fail(`node-llama-cpp is not installed here (${error.code ?? error.message}); use the llama-server embedder (EMBED_URL) instead`),
);
// build "never": a node must not try to compile llama.cpp; the prebuilt CPU binaries ship in the package.
const llama = await getLlama({ gpu: false, build: "never" });
const model = await llama.loadModel({ modelPath }).catch((error) => fail(`cannot load ${modelPath}: ${error.message}`));
const context = await model.createEmbeddingContext({ threads: Number(threads) || 1, contextSize: Math.min(2048, model.trainContextSize) });
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  const { id, texts } = JSON.parse(line);
  try {
    const vectors = [];
    for (const text of texts) vectors.push([...(await context.getEmbeddingFor(text)).vector]);
    process.stdout.write(`${JSON.stringify({ id, vectors })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ id, error: String(error?.message ?? error) })}\n`);
  }
}
await context.dispose();
await model.dispose();
