// Decides when the scene has changed. Detections flicker (a cup at 0.26 then 0.24, a
// person half out of frame); the agent should hear about a new set of objects only
// once it has held for `confirmFrames` frames in a row, and never about a flicker.
import { ObjectCount, sameObjects } from "./observation";

export class SceneTracker {
  private published: ObjectCount[] | null = null;
  private candidate: ObjectCount[] | null = null;
  private streak = 0;

  constructor(private readonly confirmFrames: number) {
    if (!Number.isInteger(confirmFrames) || confirmFrames < 1) throw new Error(`vision confirm frames ${confirmFrames} must be a whole number of at least 1`);
  }

  /** The set currently believed, or null before the first frame. */
  get current(): ObjectCount[] | null {
    return this.published;
  }

  /** Feeds one frame's objects; returns the new set when a change is confirmed. */
  update(objects: ObjectCount[]): ObjectCount[] | null {
    // The very first frame is published at once: any answer beats "starting".
    if (this.published === null) {
      this.published = objects;
      return objects;
    }
    if (sameObjects(objects, this.published)) {
      this.candidate = null;
      this.streak = 0;
      return null;
    }
    if (this.candidate && sameObjects(objects, this.candidate)) this.streak++;
    else {
      this.candidate = objects;
      this.streak = 1;
    }
    if (this.streak < this.confirmFrames) return null;
    this.published = objects;
    this.candidate = null;
    this.streak = 0;
    return objects;
  }

  /** Forget the scene (the camera was lost): the next frame is news. */
  reset(): void {
    this.published = null;
    this.candidate = null;
    this.streak = 0;
  }
}
