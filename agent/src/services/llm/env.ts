/**
 * The LLM endpoint from the environment (in the cluster Nomad fills these in):
 *   LLM_URL      http://host:port of llama-server / prima.cpp rank 0 (default http://127.0.0.1:8080)
 *   LLM_BACKEND  llamacpp (default) | primacpp — prima.cpp also gets POST /v1/cancel on interruption
 *   LLM_MODEL    model name sent with each request (optional)
 *   LLM_SLOT     llama-server slot for this agent's conversation (optional; unset = server picks)
 *   LLM_API_KEY  bearer token when the server runs with --api-key (never logged)
 * Every problem is reported at once, each with its fix.
 */
import type { LlmBackend, LlmClientOptions } from "./client";

export function llmClientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): LlmClientOptions {
  const problems: string[] = [];
  const baseUrl = env.LLM_URL?.trim() || "http://127.0.0.1:8080";
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") problems.push(`LLM_URL="${baseUrl}" must start with http:// or https://`);
  } catch {
    problems.push(`LLM_URL="${baseUrl}" is not a URL — set it like LLM_URL=http://10.0.0.5:8080`);
  }
  const backend = (env.LLM_BACKEND?.trim() || "llamacpp") as LlmBackend;
  if (backend !== "llamacpp" && backend !== "primacpp") problems.push(`LLM_BACKEND="${env.LLM_BACKEND}" — use llamacpp or primacpp`);
  let slotId: number | undefined;
  if (env.LLM_SLOT?.trim()) {
    slotId = Number(env.LLM_SLOT);
    if (!Number.isInteger(slotId) || slotId < 0) problems.push(`LLM_SLOT="${env.LLM_SLOT}" — use a slot number 0..(llama-server -np)-1, or unset it`);
  }
  if (problems.length) throw new Error(`LLM settings: ${problems.join("; ")}`);
  return {
    baseUrl,
    backend,
    slotId,
    model: env.LLM_MODEL?.trim() || undefined,
    apiKey: env.LLM_API_KEY || undefined,
  };
}
