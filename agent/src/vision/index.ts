// Vision: a YOLOv8 detector that watches a camera within a CPU budget and tells the
// agent what it sees. Other rooms use the client (describe_scene, change stream), the
// child-process starter (single-machine mode) and the flags (the Nomad task).
export { VisionClient } from "./client";
export type { VisionClientOptions } from "./client";
export { startDetectorProcess, visionFromEnv } from "./detector-child";
export type { AgentVision, DetectorProcess } from "./detector-child";
export { detectorArgs, envDetectorArgs, parseDetectorArgs, DEFAULT_VISION_PORT } from "./detector-process";
export type { DetectorProcessOptions } from "./detector-process";
export type { SceneState, DetectorHealth } from "./detector";
export type { SourceSpec } from "./frame-source";
export type { ObjectCount } from "./observation";
