// Loads a GGUF with node-llama-cpp (ESM-only, so jest runs this as a child process) and
// prints its metadata and a short greedy answer as JSON.
import { getLlama, LlamaChatSession, readGgufFileInfo } from "node-llama-cpp";

const [path, question] = process.argv.slice(2);
const info = await readGgufFileInfo(path);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: path });
const context = await model.createContext({ contextSize: 512, threads: 1 });
const session = new LlamaChatSession({ contextSequence: context.getSequence() });
const answer = await session.prompt(question, { maxTokens: 12, temperature: 0 });
console.log(JSON.stringify({
  architecture: info.metadata.general.architecture,
  layers: info.architectureMetadata.block_count,
  addSpacePrefix: info.metadata.tokenizer.ggml.add_space_prefix,
  chatWrapper: session.chatWrapper.wrapperName,
  answer,
  answerTokens: model.tokenize(answer).length,
}));
await llama.dispose();
