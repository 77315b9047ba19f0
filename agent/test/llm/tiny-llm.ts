/**
 * A real llama-server on the generated tiny chat model, started the way the cluster
 * runs it (explicit -t, -np, --jinja, prompt-cache flags), for the brain's tests.
 */
import { join } from "node:path";
import { startLlamaServer, type RunningProcess } from "../../../lib/llama";
import { ensureTinyChatModel } from "../../../scripts/models/tiny";

/**
 * A ChatML template that also renders tools and tool calls, with calls written as a bare
 * JSON object. The tiny model's own template has no tools, so llama-server would offer
 * no tool grammar; with this one its parser turns `{"name": …, "arguments": …}` into
 * `tool_calls`, and since its content rule stops at the first `{`, a logit bias on `{`
 * makes the random-weight model open a call at once (see TOOL_FORCING).
 */
export const TOOLS_TEMPLATE = join(__dirname, "fixtures", "chatml-json-tools.jinja");

/** Request fields that make the tiny model call a tool deterministically. */
export const TOOL_FORCING = { logit_bias: [["{", 100]], parallel_tool_calls: false } as const;

export interface TinyLlmOptions {
  port?: number;
  parallel?: number;
  tools?: boolean;
  /** Context per slot (default 4096). */
  ctxSize?: number;
  /** llama-server's --slot-save-path (slot save/restore). */
  slotSavePath?: string;
}

export async function startTinyLlm(options: TinyLlmOptions = {}): Promise<RunningProcess> {
  const model = await ensureTinyChatModel();
  return startLlamaServer({
    model,
    threads: 1,
    port: options.port,
    parallel: options.parallel ?? 1,
    ctxSize: options.ctxSize ?? 4096,
    readyTimeoutMs: 30_000,
    extraArgs: [
      // Reuse cached chunks after a change in the middle of the prompt (turn k-1's context block).
      "--cache-reuse", "16",
      "--cache-ram", "256",
      ...(options.tools ? ["--chat-template-file", TOOLS_TEMPLATE] : []),
      ...(options.slotSavePath ? ["--slot-save-path", options.slotSavePath] : []),
    ],
  });
}
