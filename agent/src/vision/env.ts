// The vision settings the environment carries (a Nomad task's env, or the agent's own in
// single-machine mode), each the twin of a detector flag. One table: the detector reads
// it, and the agent's --help lists it.

/** The agent's link to a detector: neither set, no camera (describe_scene says so). */
export const VISION_AGENT_ENV = {
  AIDE_VISION_URL: "a vision detector running elsewhere, http://host:port (the cluster's vision task): the agent only asks it",
  AIDE_VISION_SOURCE: "camera:/dev/videoN | stream:URL | video:FILE | images:DIR: the agent starts the detector itself, on this source",
} as const;

/** Environment variable → the detector flag it sets (flags given on the command line win). */
export const VISION_ENV_FLAGS: Record<string, { flag: string; help: string }> = {
  AIDE_VISION_SOURCE: { flag: "--source", help: "what the detector watches" },
  AIDE_VISION_MODEL: { flag: "--model", help: "YOLOv8 .onnx (default: the yolo model in the model directory)" },
  AIDE_VISION_HOST: { flag: "--host", help: "where the detector's HTTP API listens (default 127.0.0.1)" },
  AIDE_VISION_PORT: { flag: "--port", help: "its port (default 8770; 0: any free port)" },
  AIDE_VISION_CPU_SHARE: { flag: "--cpu-share", help: "most of one core detector and decoder may use" },
  AIDE_VISION_INPUT_SIZE: { flag: "--input-size", help: "model input side, when the model allows any" },
  AIDE_VISION_MAX_FPS: { flag: "--max-fps", help: "upper bound on analysed frames per second" },
};
