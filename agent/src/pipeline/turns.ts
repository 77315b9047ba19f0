/**
 * Numbers the user's turns within one session. A turn begins when the user stops
 * speaking (or sends text); every stage that stamps metrics or transcripts reads the
 * same counter, so one turn's marks line up.
 */
export class TurnCounter {
  private value = 0;

  get current(): number {
    return this.value;
  }

  begin(): number {
    return ++this.value;
  }
}
