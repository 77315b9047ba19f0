/**
 * Long-term memory never holds a turn up: a recall that hangs is given up after its
 * bound (the turn is answered without memories), and an interruption during a recall
 * ends the turn at once.
 */
import { frame } from "../../src/pipeline";
import type { MemoryStore } from "../../src/twin";
import type { RunningProcess } from "../../../lib/llama";
import { startTinyLlm } from "../llm/tiny-llm";
import { startHarness } from "./harness";

class HangingMemory implements MemoryStore {
  recalls = 0;
  onRecall: () => void = () => undefined;
  recall(): Promise<string[]> {
    this.recalls++;
    this.onRecall();
    return new Promise(() => undefined);
  }
  async remember(): Promise<void> {}
  async flush(): Promise<void> {}
}

describe("slow long-term memory", () => {
  let server: RunningProcess;
  beforeAll(async () => {
    server = await startTinyLlm();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("answers without memories once the recall bound passes", async () => {
    const memory = new HangingMemory();
    const h = startHarness({ llm: { baseUrl: server.url, maxTokens: 4, temperature: 0 }, memory: { longTerm: memory, recallTimeoutMs: 200 } });
    try {
      const started = Date.now();
      const { turn } = await h.say("my cat is called Tom");
      expect(Date.now() - started).toBeLessThan(2000);
      expect(turn?.outcome).toBe("answered");
      expect(turn!.messages[turn!.messages.length - 1].content).toBe("my cat is called Tom");
      expect(h.logs.join("\n")).toMatch(/long-term memory skipped this turn: recall took longer than 200 ms/);
    } finally {
      await h.stop();
    }
  });

  it("drops the turn at once when the user interrupts during a recall", async () => {
    const memory = new HangingMemory();
    const recalling = new Promise<void>((resolve) => (memory.onRecall = resolve));
    const h = startHarness({ llm: { baseUrl: server.url, maxTokens: 4, temperature: 0 }, memory: { longTerm: memory, recallTimeoutMs: 10_000 } });
    try {
      h.pipeline.queueFrame(frame("transcription", { text: "remember this please", final: true, turnId: 1 }));
      await recalling;
      const interruptedAt = Date.now();
      h.pipeline.queueFrame(frame("interruption"));
      await h.pipeline.idle();
      expect(Date.now() - interruptedAt).toBeLessThan(200);
      expect(h.out.filter((f) => f.type.startsWith("llm-"))).toEqual([]);
      expect(h.twin.shortTerm.size).toBe(0);
    } finally {
      await h.stop();
    }
  });
});
