/**
 * What the user says is kept in long-term memory whether or not the answer was heard to
 * its end: on a Core 2 most answers are still being generated when the user speaks again
 * (the cluster lab: 21 of 24), and a statement cut off from its answer is still the
 * user's. A turn the LLM could not answer at all is not kept (it failed as an exchange).
 */
import { frame } from "../../src/pipeline";
import type { MemoryStore } from "../../src/twin";
import type { RunningProcess } from "../../../lib/llama";
import { startTinyLlm } from "../llm/tiny-llm";
import { startHarness } from "./harness";

class RecordingMemory implements MemoryStore {
  remembered: string[] = [];
  async recall(): Promise<string[]> { return []; }
  async remember(text: string): Promise<void> { this.remembered.push(text); }
  async flush(): Promise<void> {}
}

describe("remembering what the user said", () => {
  let server: RunningProcess;
  beforeAll(async () => {
    server = await startTinyLlm();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("keeps a statement whose answer was cut off, as one that was answered", async () => {
    const memory = new RecordingMemory();
    const h = startHarness({ llm: { baseUrl: server.url, maxTokens: 200, temperature: 0 }, memory: { longTerm: memory } });
    try {
      await h.say("my cat is called Tom");
      expect(memory.remembered).toEqual(["my cat is called Tom"]);
      const before = h.out.length;
      h.pipeline.queueFrame(frame("transcription", { text: "my sister Marta is allergic to garlic", final: true, turnId: 2 }));
      // Cut off once the answer is under way.
      const deadline = Date.now() + 10_000;
      while (!h.out.slice(before).some((f) => f.type === "llm-text") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      h.pipeline.queueFrame(frame("interruption"));
      await h.pipeline.idle();
      expect(h.out.filter((f) => f.type === "llm-response-end")).toHaveLength(1); // the second answer never ended
      expect(memory.remembered).toEqual(["my cat is called Tom", "my sister Marta is allergic to garlic"]);
    } finally {
      await h.stop();
    }
  });
});
