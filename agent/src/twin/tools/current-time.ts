import type { Tool } from "./registry";

/** The local date and time: the model has no clock, and "what time is it?" is a common question. */
export function currentTimeTool(now: () => Date = () => new Date()): Tool {
  return {
    name: "current_time",
    description: "The current local date and time. Call it when the user asks what time or what day it is.",
    parameters: { type: "object", properties: {} },
    async run() {
      const date = now();
      const day = date.toLocaleDateString("en-GB", { weekday: "long", day: "numeric", month: "long", year: "numeric" });
      const time = date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
      return `It is ${time} on ${day}.`;
    },
  };
}
