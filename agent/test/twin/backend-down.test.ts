/**
 * When the LLM backend is down the user hears a short apology and the session stays;
 * when the backend returns, the next turn is answered normally and the failed exchange
 * has not polluted the history.
 */
import { freePort } from "../../../lib/llama";
import { APOLOGY_BACKEND_DOWN } from "../../src/twin";
import { startTinyLlm } from "../llm/tiny-llm";
import { startHarness } from "./harness";

describe("LLM backend down", () => {
  it("apologises briefly while it is down and answers again once it is back", async () => {
    const port = await freePort();
    const h = startHarness({ llm: { baseUrl: `http://127.0.0.1:${port}`, slotId: 0, maxTokens: 8, temperature: 0 } });
    try {
      const started = Date.now();
      const down = await h.say("are you there?");
      expect(Date.now() - started).toBeLessThan(3000);
      expect(down.text).toBe(APOLOGY_BACKEND_DOWN);
      expect(down.frames.map((f) => f.type)).toEqual(["llm-response-start", "llm-text", "llm-response-end"]);
      expect(down.turn?.outcome).toBe("backend-down");
      expect(h.logs.join("\n")).toMatch(new RegExp(`LLM backend at http://127.0.0.1:${port} is unreachable`));
      expect(h.twin.shortTerm.size).toBe(0);
      // No error frame that would end the session.
      expect(h.upstream.filter((f) => f.type === "error")).toEqual([]);

      const server = await startTinyLlm({ port });
      try {
        const back = await h.say("and now?");
        expect(back.turn?.outcome).toBe("answered");
        expect(back.text).not.toBe(APOLOGY_BACKEND_DOWN);
        expect(back.text.trim().length).toBeGreaterThan(0);
        expect(h.twin.shortTerm.snapshot().map((t) => t.user)).toEqual(["and now?"]);
      } finally {
        await server.stop();
      }
    } finally {
      await h.stop();
    }
  });

  it("follows the LLM when it moves: an open conversation's next turn goes to the new endpoint, and it says it is reconnecting meanwhile", async () => {
    const deadPort = await freePort();
    const endpoint = { baseUrl: `http://127.0.0.1:${deadPort}` };
    const h = startHarness({ llm: { baseUrl: endpoint.baseUrl, endpoint: () => endpoint, slotId: 0, maxTokens: 8, temperature: 0 } });
    const moved = await startTinyLlm();
    try {
      const down = await h.say("are you there?");
      expect(down.text).toMatch(/reconnecting/);
      endpoint.baseUrl = moved.url; // what SIGHUP does to the agent's config when Nomad moves the LLM
      const back = await h.say("and now?");
      expect(back.turn?.outcome).toBe("answered");
      expect(back.text).not.toBe(APOLOGY_BACKEND_DOWN);
    } finally {
      await h.stop();
      await moved.stop();
    }
  });
});
