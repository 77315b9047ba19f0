/**
 * Server-sent events, as llama-server (and prima.cpp rank 0) stream them: `data: <json>`
 * lines separated by a blank line, ending with `data: [DONE]`. Only the `data` field is
 * used; comments (`:`), `event:`, `id:` and `retry:` lines are ignored.
 */
export class SseParser {
  private buffer = "";

  /** Feeds raw text; returns the `data` payload of every event completed by it. */
  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    for (;;) {
      const end = this.findEventEnd();
      if (!end) break;
      const block = this.buffer.slice(0, end.at);
      this.buffer = this.buffer.slice(end.at + end.length);
      const data = dataOf(block);
      if (data !== undefined) events.push(data);
    }
    return events;
  }

  /** What is left when the stream ends (an event without its closing blank line). */
  flush(): string[] {
    const data = dataOf(this.buffer);
    this.buffer = "";
    return data === undefined ? [] : [data];
  }

  private findEventEnd(): { at: number; length: number } | undefined {
    const match = /\r?\n\r?\n/.exec(this.buffer);
    return match ? { at: match.index, length: match[0].length } : undefined;
  }
}

function dataOf(block: string): string | undefined {
  const lines: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith("data:")) lines.push(line.slice(line.startsWith("data: ") ? 6 : 5));
  }
  return lines.length ? lines.join("\n") : undefined;
}
