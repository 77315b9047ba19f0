// A model's facts for the layer planner, from its GGUF header: layer count, each layer's
// bytes, the KV cache per token. node-llama-cpp reads the header — of a local file, or of
// an http(s) URL with range requests (no full download). It is ESM-only and this program
// runs as CommonJS, synchronously where the plan is made, so the reading half runs in a
// child `node` (about a second; it reads only the header): this same file, run with
// ts-node, prints the header's summary as one JSON line, and readModelFacts turns it into
// the planner's ModelFacts.
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import type { ModelFacts } from "./planner";

/** What the child reads from the header: the metadata the planner needs, and where each
 * tensor starts in the file. */
export interface GgufSummary {
  name: string | null;
  architecture: string;
  fileSize: number;
  blockCount?: number;
  embedding?: number;
  heads?: number;
  kvHeads?: number;
  keyLength?: number;
  valueLength?: number;
  /** Each tensor's name and offset in the file. */
  tensors: Array<[string, number]>;
}

/** The `<architecture>.*` metadata keys read here (GGUF's names). */
interface ArchitectureMetadata {
  block_count?: number | bigint;
  embedding_length?: number | bigint;
  attention?: {
    head_count?: number | bigint;
    head_count_kv?: number | bigint;
    key_length?: number | bigint;
    value_length?: number | bigint;
  };
}

const isUrl = (where: string) => /^https?:/.test(where);

/** The child's half: reads the header with node-llama-cpp, and the file's size. */
export async function summarizeGguf(where: string): Promise<GgufSummary> {
  // A dynamic import stays an import() in this CommonJS file: node-llama-cpp is ESM-only.
  const { readGgufFileInfo } = await import("node-llama-cpp");
  // a few quick retries: its default backs off for minutes on an unreachable URL
  const fetchRetryOptions = { retries: 2, factor: 1, minTimeout: 500, maxTimeout: 1000 };
  const info = await readGgufFileInfo(where, { readTensorInfo: true, logWarnings: false, fetchRetryOptions });
  let fileSize: number;
  if (isUrl(where)) {
    const head = await fetch(where, { method: "HEAD", redirect: "follow" });
    fileSize = Number(head.headers.get("content-length"));
    if (!(fileSize > 0)) throw new Error("the server did not say the file's size (Content-Length)");
  } else fileSize = statSync(where).size;
  if (!info.fullTensorInfo) throw new Error("node-llama-cpp returned no tensor info");
  const md = info.metadata;
  const arch = md.general.architecture;
  const a = (md as unknown as Record<string, ArchitectureMetadata | undefined>)[arch] ?? {};
  const n = (v: number | bigint | undefined) => (v === undefined ? undefined : Number(v));
  return {
    name: md.general.name ?? null, architecture: arch, fileSize,
    blockCount: n(a.block_count), embedding: n(a.embedding_length),
    heads: n(a.attention?.head_count), kvHeads: n(a.attention?.head_count_kv),
    keyLength: n(a.attention?.key_length), valueLength: n(a.attention?.value_length),
    tensors: info.fullTensorInfo.map((t): [string, number] => [t.name, Number(t.fileOffset)]),
  };
}

/** Reads layer count, per-layer sizes and KV size from a GGUF file: a local path, or an
 * http(s) URL whose header is read with range requests. */
export function readModelFacts(ggufPathOrUrl: string): ModelFacts {
  const repo = join(__dirname, "..");
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", __filename, ggufPathOrUrl], { cwd: repo, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || "").trim().split("\n").filter((l) => /error/i.test(l)).pop() ?? "no output";
    throw new Error(`model ${ggufPathOrUrl}: cannot read its GGUF header (${why.trim()}) — is it a complete .gguf file${isUrl(ggufPathOrUrl) ? " at a reachable URL" : ""}?`);
  }
  const raw = JSON.parse(r.stdout) as GgufSummary;
  if (!raw.blockCount || !raw.embedding || !raw.heads) {
    throw new Error(`model ${ggufPathOrUrl}: its GGUF metadata lacks ${raw.architecture}.block_count/embedding_length/attention.head_count — not a transformer Aide can plan for`);
  }
  const fileSize = raw.fileSize;
  const sorted = [...raw.tensors].sort((a, b) => a[1] - b[1]);
  const layerBytes = new Array<number>(raw.blockCount).fill(0);
  let otherBytes = 0;
  let outputBytes = 0;
  let embeddingBytes = 0;
  let tiedOutput = true;
  sorted.forEach(([name, offset], i) => {
    const size = (i + 1 < sorted.length ? sorted[i + 1][1] : fileSize) - offset;
    const m = /^blk\.(\d+)\./.exec(name);
    if (m && Number(m[1]) < raw.blockCount!) layerBytes[Number(m[1])] += size;
    else if (name === "output.weight" || name === "output_norm.weight") {
      outputBytes += size;
      if (name === "output.weight") tiedOutput = false;
    } else {
      otherBytes += size;
      if (name === "token_embd.weight") embeddingBytes = size;
    }
  });
  // A model without output.weight reuses its embeddings as the output head, and llama.cpp
  // loads a second copy of them wherever the output head runs.
  if (tiedOutput) outputBytes += embeddingBytes;
  const headDim = raw.embedding / raw.heads;
  const kvHeads = raw.kvHeads ?? raw.heads;
  const kvPerTokenPerLayer = 2 /* f16 */ * kvHeads * ((raw.keyLength ?? headDim) + (raw.valueLength ?? headDim));
  return {
    name: raw.name ?? ggufPathOrUrl.split("/").pop()!,
    architecture: raw.architecture,
    layerCount: raw.blockCount,
    layerBytes,
    otherBytes,
    outputBytes,
    kvBytesPerToken: kvPerTokenPerLayer * raw.blockCount,
  };
}

// The child: one JSON line on stdout, or the error as one line on stderr (the parent
// quotes it) and exit status 1.
if (require.main === module) {
  summarizeGguf(process.argv[2]).then(
    (summary) => console.log(JSON.stringify(summary)),
    (e: Error) => {
      // named as Node names an uncaught error: by its class (node-llama-cpp's keep name "Error")
      const kind = e.constructor?.name && e.constructor.name !== "Error" ? e.constructor.name : e.name;
      const cause = e.cause instanceof Error ? ` (${e.cause.message})` : "";
      console.error(`${kind}: ${e.message}${cause}`);
      process.exitCode = 1;
    },
  );
}
