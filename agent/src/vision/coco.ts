// The 80 COCO classes in the order YOLOv8 detection models score them (output rows
// 4..83), with the words the agent says for one and for several of each.

interface ClassWords {
  name: string;
  /** "a cup", "an apple", "a pair of skis". */
  one: string;
  /** The plural noun phrase after a number: "people", "pairs of skis". */
  many: string;
}

// [name, plural] where the plural is not name + "s"; the article is derived below.
const IRREGULAR: Record<string, { one?: string; many: string }> = {
  person: { many: "people" },
  bus: { many: "buses" },
  bench: { many: "benches" },
  sheep: { many: "sheep" },
  skis: { one: "a pair of skis", many: "pairs of skis" },
  "wine glass": { many: "wine glasses" },
  knife: { many: "knives" },
  sandwich: { many: "sandwiches" },
  broccoli: { one: "a head of broccoli", many: "heads of broccoli" },
  couch: { many: "couches" },
  tv: { one: "a TV", many: "TVs" },
  mouse: { many: "mice" },
  scissors: { one: "a pair of scissors", many: "pairs of scissors" },
  toothbrush: { many: "toothbrushes" },
};

export const COCO_CLASS_NAMES: readonly string[] = [
  "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
  "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
  "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
  "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
  "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
  "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
  "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
  "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
  "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
  "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
  "toothbrush",
];

const COCO_WORDS: readonly ClassWords[] = COCO_CLASS_NAMES.map((name) => {
  const irregular = IRREGULAR[name];
  // Every COCO name starting with a vowel letter also starts with a vowel sound.
  const article = /^[aeiou]/.test(name) ? "an" : "a";
  return { name, one: irregular?.one ?? `${article} ${name}`, many: irregular?.many ?? `${name}s` };
});

const NUMBER_WORDS = [
  "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
  "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
  "eighteen", "nineteen", "twenty",
];

export function classIdOf(name: string): number {
  const id = COCO_CLASS_NAMES.indexOf(name);
  if (id < 0) throw new Error(`"${name}" is not one of the 80 COCO class names YOLOv8 detects`);
  return id;
}

/** "a cup", "two people", "21 chairs". */
export function countedPhrase(classId: number, count: number): string {
  const words = COCO_WORDS[classId];
  if (!words) throw new Error(`class id ${classId} is outside the 80 COCO classes (0..79)`);
  if (count === 1) return words.one;
  return `${NUMBER_WORDS[count] ?? String(count)} ${words.many}`;
}
