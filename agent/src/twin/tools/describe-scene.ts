import type { SceneSource } from "../scene";
import type { Tool } from "./registry";

/** What the camera sees right now, from the vision service; says so when there is no camera. */
export function describeSceneTool(scene: SceneSource | undefined): Tool {
  return {
    name: "describe_scene",
    description: "Describe what the camera sees right now. Call it when the user asks what you see, who is there, or about objects in the room.",
    parameters: { type: "object", properties: {} },
    timeoutMs: 2000,
    async run() {
      if (!scene) return "I can't see right now: no camera is attached to this assistant.";
      return scene.currentObservation();
    },
  };
}
