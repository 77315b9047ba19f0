/**
 * A conversation that outgrows the server's context window keeps going: the brain drops
 * its oldest turns and asks again instead of failing every turn from then on; only a
 * single utterance too long for the context on its own gets the short apology.
 */
import type { RunningProcess } from "../../../lib/llama";
import { APOLOGY_REFUSED } from "../../src/twin";
import { startTinyLlm } from "../llm/tiny-llm";
import { Speaker, startHarness } from "./harness";

describe("context overflow", () => {
  let server: RunningProcess;
  beforeAll(async () => {
    server = await startTinyLlm({ ctxSize: 768 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("forgets the oldest turns when the prompt no longer fits, and answers", async () => {
    const h = startHarness({ llm: { baseUrl: server.url, slotId: 0, maxTokens: 16, temperature: 0 } }, { speaker: new Speaker() });
    try {
      const sentence = "today I walked along the river and counted the boats going past the old bridge";
      const dropped = /prompt too long for the LLM's context — forgot the \d+ oldest turn\(s\) and asked again/;
      // Talk until the history outgrows the 768-token context (bounded), answering every turn.
      let turns = 0;
      while (turns < 20 && !dropped.test(h.logs.join("\n"))) {
        turns++;
        const { turn, text } = await h.say(`${turns}: ${sentence}`);
        expect(turn?.outcome).toBe("answered");
        expect(text).not.toBe(APOLOGY_REFUSED);
      }
      expect(h.logs.join("\n")).toMatch(dropped);
      expect(h.twin.shortTerm.size).toBeLessThan(turns);
      expect(h.twin.shortTerm.snapshot().slice(-1)[0].user).toBe(`${turns}: ${sentence}`);
    } finally {
      await h.stop();
    }
  });

  it("apologises for one utterance too long for the whole context, and the next turn works", async () => {
    const h = startHarness({ llm: { baseUrl: server.url, slotId: 0, maxTokens: 8, temperature: 0 } });
    try {
      const huge = Array.from({ length: 400 }, (_, i) => `longword${i}`).join(" ");
      const { text, turn } = await h.say(huge);
      expect(turn?.outcome).toBe("refused");
      expect(text).toBe(APOLOGY_REFUSED);
      expect(h.logs.join("\n")).toMatch(/exceeds the available context size/);
      const next = await h.say("shorter now");
      expect(next.turn?.outcome).toBe("answered");
      expect(h.twin.shortTerm.snapshot().map((t) => t.user)).toEqual(["shorter now"]);
    } finally {
      await h.stop();
    }
  });
});
