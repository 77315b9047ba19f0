/**
 * Tools the model may call, offered as OpenAI function tools. A tool is one small file:
 *
 *   export const timeTool: Tool = {
 *     name: "current_time",
 *     description: "The local time, for questions like 'what time is it'.",
 *     parameters: { type: "object", properties: {} },
 *     async run() { return new Date().toLocaleTimeString(); },
 *   };
 *
 * The registry turns every way a call can go wrong (unknown name, malformed JSON from
 * the model, a throw, a hang) into a short result the model can speak from, so a bad
 * tool never costs the user their answer.
 */
import { abortError, throwIfAborted } from "../../abort";
import type { ToolCallRequest, ToolSchema } from "../../services/llm";

export interface Tool {
  /** `snake_case`, as the model sees it. */
  name: string;
  /** One sentence telling the model when to call it. */
  description: string;
  /** JSON schema of the arguments object. */
  parameters: { type: "object"; properties: Record<string, unknown>; required?: string[] };
  /** Bound on one call (default: the registry's). */
  timeoutMs?: number;
  run(args: Record<string, unknown>, signal: AbortSignal): Promise<string>;
}

export interface ToolResult {
  callId: string;
  name: string;
  /** What goes back to the model as the tool message. */
  content: string;
  ok: boolean;
}

export class ToolRegistry {
  private readonly tools = new Map<string, Tool>();

  constructor(tools: Tool[] = [], readonly defaultTimeoutMs = 3000) {
    for (const tool of tools) this.register(tool);
  }

  register(tool: Tool): this {
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(tool.name)) {
      throw new Error(`tool "${tool.name}": names must be 1-64 letters, digits, _ or - (OpenAI function name rules)`);
    }
    if (this.tools.has(tool.name)) throw new Error(`tool "${tool.name}" is registered twice — give the second one another name`);
    this.tools.set(tool.name, tool);
    return this;
  }

  get size(): number {
    return this.tools.size;
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  /** The `tools` field of the request, in registration order so the prompt prefix stays byte-stable. */
  schemas(): ToolSchema[] {
    return [...this.tools.values()].map((t) => ({
      type: "function",
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
  }

  /** Runs one call, bounded in time; never throws except when `signal` aborts. */
  async call(request: ToolCallRequest, signal: AbortSignal): Promise<ToolResult> {
    const fail = (content: string): ToolResult => ({ callId: request.id, name: request.name, content, ok: false });
    const tool = this.tools.get(request.name);
    if (!tool) return fail(`Error: there is no tool named "${request.name}". Available: ${[...this.tools.keys()].join(", ") || "none"}.`);
    const args = parseArguments(request.arguments);
    if (typeof args === "string") return fail(`Error: the arguments for ${tool.name} were not valid: ${args}.`);
    const missing = (tool.parameters.required ?? []).filter((key) => !(key in args));
    if (missing.length) return fail(`Error: ${tool.name} needs ${missing.join(", ")}.`);

    const timeoutMs = tool.timeoutMs ?? this.defaultTimeoutMs;
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const aborted = new Promise<"aborted">((resolve) => controller.signal.addEventListener("abort", () => resolve("aborted"), { once: true }));
    try {
      const outcome = await Promise.race([
        tool.run(args, controller.signal).then((content) => ({ content }), (error: unknown) => ({ error })),
        timeout,
        aborted,
      ]);
      throwIfAborted(signal, `tool ${tool.name}`);
      if (outcome === "timeout") return fail(`Error: ${tool.name} did not answer within ${timeoutMs} ms.`);
      if (outcome === "aborted") throw abortError(`tool ${tool.name}`);
      if ("error" in outcome) return fail(`Error: ${tool.name} failed: ${messageOf(outcome.error)}.`);
      return { callId: request.id, name: tool.name, content: String(outcome.content), ok: true };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      // A tool still running after its bound is told to stop; its late answer is ignored.
      controller.abort();
    }
  }
}

function parseArguments(raw: string): Record<string, unknown> | string {
  if (!raw.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return `malformed JSON (${messageOf(error)}) in ${JSON.stringify(raw.slice(0, 80))}`;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return `expected a JSON object, got ${JSON.stringify(raw.slice(0, 80))}`;
  return value as Record<string, unknown>;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
