/**
 * A model (or server) that writes a tool call with malformed JSON arguments, or calls a
 * tool that does not exist, gets a short error as the tool result and the turn still
 * ends in spoken words. The real llama-server only emits grammar-valid calls, so a small
 * scripted OpenAI-compatible server plays the misbehaving backend here.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { ChatMessage } from "../../src/services/llm";
import { startHarness } from "./harness";

interface Script {
  url: string;
  requests: { messages: ChatMessage[] }[];
  close(): Promise<void>;
}

/** Answers request n with `replies[n]`: tool calls (name + raw arguments) or text. */
async function scriptedServer(replies: ({ calls: [string, string][] } | { text: string })[]): Promise<Script> {
  const requests: { messages: ChatMessage[] }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      requests.push(JSON.parse(body));
      const reply = replies[Math.min(requests.length - 1, replies.length - 1)];
      res.writeHead(200, { "content-type": "text/event-stream" });
      const send = (delta: unknown, finish: string | null = null) =>
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
      if ("calls" in reply) {
        reply.calls.forEach(([name, args], index) => {
          send({ tool_calls: [{ index, id: `call_${index}`, type: "function", function: { name, arguments: "" } }] });
          // Arguments arrive in pieces, as llama-server streams them.
          send({ tool_calls: [{ index, function: { arguments: args.slice(0, 3) } }] });
          send({ tool_calls: [{ index, function: { arguments: args.slice(3) } }] });
        });
        send({}, "tool_calls");
      } else {
        for (const word of reply.text.split(/(?= )/)) send({ content: word });
        send({}, "stop");
      }
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe("malformed tool calls from the model", () => {
  it("answers a call with broken JSON arguments with an error result, and the turn still ends in words", async () => {
    const script = await scriptedServer([{ calls: [["describe_scene", '{"room": "kitch']] }, { text: "I could not look just now." }]);
    const h = startHarness({ llm: { baseUrl: script.url } });
    try {
      const { text, turn } = await h.say("what's in the kitchen?");
      expect(text).toBe("I could not look just now.");
      expect(turn?.toolResults[0].ok).toBe(false);
      expect(turn?.toolResults[0].content).toMatch(/^Error: the arguments for describe_scene were not valid: malformed JSON .*"\{\\"room\\": \\"kitch"\.$/);
      const second = script.requests[1].messages;
      expect(second[second.length - 2]).toMatchObject({ role: "assistant", tool_calls: [{ id: "call_0", function: { name: "describe_scene", arguments: '{"room": "kitch' } }] });
      expect(second[second.length - 1]).toMatchObject({ role: "tool", tool_call_id: "call_0" });
      expect(h.twin.shortTerm.snapshot()[0].assistant).toBe("I could not look just now.");
    } finally {
      await h.stop();
      await script.close();
    }
  });

  it("tells the model a tool does not exist, and stops offering calls after two rounds", async () => {
    // A model stuck calling tools: round 3 is sent with tool_choice "none".
    const script = await scriptedServer([
      { calls: [["open_door", "{}"]] },
      { calls: [["describe_scene", "[1, 2]"]] },
      { text: "Done." },
    ]);
    const h = startHarness({ llm: { baseUrl: script.url } });
    try {
      const { text, turn } = await h.say("open the door");
      expect(text).toBe("Done.");
      expect(turn?.toolResults.map((r) => r.content)).toEqual([
        'Error: there is no tool named "open_door". Available: describe_scene, current_time.',
        'Error: the arguments for describe_scene were not valid: expected a JSON object, got "[1, 2]".',
      ]);
      const choices = script.requests.map((r) => (r as unknown as { tool_choice: string }).tool_choice);
      expect(choices).toEqual(["auto", "auto", "none"]);
    } finally {
      await h.stop();
      await script.close();
    }
  });
});
