// Minimal OpenAI-style calls the llama.cpp tests make against llama-server.
export interface StreamedChat { chunks: string[]; text: string; firstChunkMs: number; totalMs: number; done: boolean; timings?: { prompt_n: number } }

export async function postJson<T>(url: string, body: unknown, timeoutMs = 60_000): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: (await res.json()) as T };
}

/** Streams /v1/chat/completions and records when each SSE data event arrived. */
export async function streamChat(baseUrl: string, body: Record<string, unknown>, timeoutMs = 60_000): Promise<StreamedChat> {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }), signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status !== 200) throw new Error(`stream failed: HTTP ${res.status} ${await res.text()}`);
  expectEventStream(res.headers.get("content-type"));
  const out: StreamedChat = { chunks: [], text: "", firstChunkMs: -1, totalMs: 0, done: false };
  const decoder = new TextDecoder();
  let buf = "";
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(part, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, nl); buf = buf.slice(nl + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
      if (data === "[DONE]") { out.done = true; continue; }
      if (!data) continue;
      const json = JSON.parse(data) as { choices: { delta: { content?: string | null } }[]; timings?: { prompt_n: number } };
      const c = json.choices[0]?.delta?.content;
      if (c) {
        if (out.firstChunkMs < 0) out.firstChunkMs = performance.now() - t0;
        out.chunks.push(c); out.text += c;
      }
      if (json.timings) out.timings = json.timings;
    }
  }
  out.totalMs = performance.now() - t0;
  return out;
}

function expectEventStream(type: string | null): void {
  if (!type?.startsWith("text/event-stream")) throw new Error(`expected an SSE stream, got content-type ${type}`);
}
