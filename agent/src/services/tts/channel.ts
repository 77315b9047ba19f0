// A one-consumer async queue: producers (a child process's stdout, sherpa's progress
// callback) push as audio appears; the voice's consumer iterates with for-await.
export class Channel<T> implements AsyncIterable<T> {
  /** `onCancel` runs when the consumer stops iterating before the producer closed (stop producing). */
  constructor(private readonly onCancel?: () => void) {}

  private items: T[] = [];
  private waiting?: () => void;
  private done = false;
  private failure?: Error;

  push(item: T): void {
    if (this.done) return;
    this.items.push(item);
    this.wake();
  }

  close(error?: Error): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.items.length) {
          yield this.items.shift() as T;
          continue;
        }
        if (this.done) {
          if (this.failure) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.waiting = resolve));
      }
    } finally {
      if (!this.done) {
        this.done = true;
        this.items = [];
        this.onCancel?.();
      }
    }
  }
}
