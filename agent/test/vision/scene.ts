// The planted-object scene the vision tests watch.
import { YoloModelSpec } from "../../../scripts/models/onnx/yolo";

// 640x480 frames letterbox to 320x240 at y 40..280 of the 320x320 input: a white left
// half of the picture brings two people, a white right half a cup.
export const SCENE: YoloModelSpec = {
  size: 320,
  objects: [
    { name: "person", box: [60, 160, 50, 150], score: 0.9, when: { region: [8, 48, 152, 272], above: 0.5 } },
    { name: "person", box: [120, 160, 50, 150], score: 0.8, when: { region: [8, 48, 152, 272], above: 0.5 } },
    { name: "cup", box: [240, 200, 30, 40], score: 0.7, when: { region: [168, 48, 312, 272], above: 0.5 } },
  ],
};
