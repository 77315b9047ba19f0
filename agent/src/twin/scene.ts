/**
 * Where the brain gets what the camera sees (the vision room implements it). Answers
 * "Observation: I see a person and a cup." or "I can't see right now: <reason>".
 */
export interface SceneSource {
  currentObservation(): Promise<string>;
}
