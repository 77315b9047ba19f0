// What the agent is told about the scene: the set of objects counted per class, and
// the sentence for it ("Observation: I see two people and a cup.").
import { classIdOf, countedPhrase } from "./coco";
import { Detection } from "./detections";

export interface ObjectCount {
  name: string;
  count: number;
}

/** Counts per class, most numerous first, ties in COCO order (person before cup). */
export function countObjects(detections: readonly Detection[]): ObjectCount[] {
  const counts = new Map<string, number>();
  for (const d of detections) counts.set(d.name, (counts.get(d.name) ?? 0) + 1);
  return [...counts.entries()]
    .map(([name, count]) => ({ name, count }))
    .sort((a, b) => b.count - a.count || classIdOf(a.name) - classIdOf(b.name));
}

export function sameObjects(a: readonly ObjectCount[], b: readonly ObjectCount[]): boolean {
  if (a.length !== b.length) return false;
  const byName = new Map(a.map((o) => [o.name, o.count]));
  return b.every((o) => byName.get(o.name) === o.count);
}

export function observationText(objects: readonly ObjectCount[]): string {
  if (objects.length === 0) return "Observation: I see nothing I recognise.";
  const phrases = objects.map((o) => countedPhrase(classIdOf(o.name), o.count));
  const list = phrases.length === 1 ? phrases[0] : `${phrases.slice(0, -1).join(", ")} and ${phrases[phrases.length - 1]}`;
  return `Observation: I see ${list}.`;
}

export const CANT_SEE_PREFIX = "I can't see right now";

export function cantSeeText(reason: string): string {
  return `${CANT_SEE_PREFIX}: ${reason}`;
}
