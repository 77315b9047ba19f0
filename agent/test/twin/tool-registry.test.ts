/**
 * The tool registry: a tool is one small object; the registry bounds and explains every
 * way a call can fail, so a bad tool never costs the user their answer.
 */
import { ToolRegistry, currentTimeTool, describeSceneTool, type Tool } from "../../src/twin";

const call = (registry: ToolRegistry, name: string, args = "{}") =>
  registry.call({ id: "c1", name, arguments: args }, new AbortController().signal);

describe("tool registry", () => {
  it("offers its tools as OpenAI function schemas, in registration order", () => {
    const registry = new ToolRegistry([describeSceneTool(undefined), currentTimeTool()]);
    expect(registry.schemas()).toEqual([
      { type: "function", function: expect.objectContaining({ name: "describe_scene", parameters: { type: "object", properties: {} } }) },
      { type: "function", function: expect.objectContaining({ name: "current_time" }) },
    ]);
  });

  it("answers the time from the agent's clock", async () => {
    const registry = new ToolRegistry([currentTimeTool(() => new Date(2026, 10, 26, 7, 5))]);
    expect(await call(registry, "current_time")).toEqual({ callId: "c1", name: "current_time", content: "It is 07:05 on Thursday, 26 November 2026.", ok: true });
  });

  it("takes a second tool as one small object, and checks its required arguments", async () => {
    const shout: Tool = {
      name: "shout",
      description: "Repeat words loudly.",
      parameters: { type: "object", properties: { words: { type: "string" } }, required: ["words"] },
      async run(args) {
        return String(args.words).toUpperCase();
      },
    };
    const registry = new ToolRegistry([shout]);
    expect((await call(registry, "shout", '{"words":"hi there"}')).content).toBe("HI THERE");
    expect(await call(registry, "shout", "{}")).toMatchObject({ ok: false, content: "Error: shout needs words." });
    expect(() => registry.register(shout)).toThrow('tool "shout" is registered twice — give the second one another name');
    expect(() => registry.register({ ...shout, name: "has space" })).toThrow(/names must be 1-64 letters, digits, _ or -/);
  });

  it("bounds a tool that throws or hangs", async () => {
    const registry = new ToolRegistry(
      [
        { name: "broken", description: "", parameters: { type: "object", properties: {} }, run: async () => Promise.reject(new Error("disk on fire")) },
        { name: "stuck", description: "", parameters: { type: "object", properties: {} }, timeoutMs: 100, run: () => new Promise<string>(() => undefined) },
      ],
    );
    expect(await call(registry, "broken")).toMatchObject({ ok: false, content: "Error: broken failed: disk on fire." });
    const started = Date.now();
    expect(await call(registry, "stuck")).toMatchObject({ ok: false, content: "Error: stuck did not answer within 100 ms." });
    expect(Date.now() - started).toBeLessThan(500);
  });
});
