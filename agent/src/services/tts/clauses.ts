// Streaming LLM text → pieces a voice can start on. TTS must start on the first clause,
// not the whole answer: the first piece ends at the first comma, sentence end or after
// `firstMaxWords` words; later pieces end at sentence ends (better prosody), or at a
// clause boundary once they are long, or at `maxWords`.
//
//   const split = firstClauseSplitter();
//   for await (const token of llm) for (const clause of split.push(token)) speak(clause);
//   for (const clause of split.flush()) speak(clause);

export interface ClauseSplitter {
  /** Adds streamed text; returns the clauses it completed (possibly none). */
  push(text: string): string[];
  /** End of the answer: returns what is left. */
  flush(): string[];
  /** Drops buffered text (the user interrupted, or a new answer starts); `firstMaxWords` caps the next answer's first piece. */
  reset(next?: { firstMaxWords?: number }): void;
}

export interface ClauseSplitterOptions {
  /** Word cap of the first clause (default 8). */
  firstMaxWords?: number;
  /** Later pieces split at a comma/semicolon/colon after this many words (default 12). */
  laterClauseWords?: number;
  /** Hard cap of any later piece (default 30). */
  maxWords?: number;
}

// "Dr. Smith" and "e.g. this" do not end sentences. ("No." is left out on purpose: as a
// one-word answer it is far more common from an assistant than "No. 5".)
const ABBREVIATIONS = /(?:^|\s)(?:mr|mrs|ms|dr|prof|st|vs|etc|e\.g|i\.e|approx)\.$/i;

function countWords(s: string): number {
  const m = s.trim().match(/\S+/g);
  return m ? m.length : 0;
}

export function firstClauseSplitter(options: ClauseSplitterOptions = {}): ClauseSplitter {
  let firstMax = options.firstMaxWords ?? 8;
  const laterClause = options.laterClauseWords ?? 12;
  const maxWords = options.maxWords ?? 30;
  let buf = "";
  let emitted = 0;

  /** Index just after the boundary where the buffer should be cut, or -1. */
  function findCut(): number {
    const first = emitted === 0;
    let inFence = false;
    let words = 0;
    let inWord = false;
    for (let i = 0; i < buf.length; i++) {
      if (buf.startsWith("```", i)) {
        inFence = !inFence; // a code block is one piece, never split inside
        i += 2;
        continue;
      }
      if (inFence) continue;
      const c = buf[i];
      const ws = /\s/.test(c);
      if (!ws && !inWord) words += 1;
      inWord = !ws;
      // A boundary only counts once the next character shows it is not "3.5" or "1,000".
      const next = buf[i + 1];
      if (next === undefined) break;
      const followedBySpace = /\s/.test(next);
      if (c === "\n" && buf[i - 1] === "\n") return i + 1; // paragraph break
      if (/[.!?…]/.test(c) && followedBySpace && !ABBREVIATIONS.test(buf.slice(0, i + 1))) return i + 1;
      if (/[,;:—]/.test(c) && followedBySpace && (first || words >= laterClause)) return i + 1;
      if (ws && words >= (first ? firstMax : maxWords) && !/\s/.test(buf[i - 1] ?? " ")) return i + 1; // word cap
    }
    return -1;
  }

  function take(): string[] {
    const out: string[] = [];
    for (let cut = findCut(); cut > 0; cut = findCut()) {
      const piece = buf.slice(0, cut).trim();
      buf = buf.slice(cut);
      if (countWords(piece) > 0) {
        out.push(piece);
        emitted += 1;
      }
    }
    return out;
  }

  return {
    push(text: string): string[] {
      buf += text;
      return take();
    },
    flush(): string[] {
      const out = take();
      const rest = buf.trim();
      buf = "";
      if (rest) out.push(rest);
      emitted = 0;
      return out;
    },
    reset(next?: { firstMaxWords?: number }): void {
      buf = "";
      emitted = 0;
      firstMax = next?.firstMaxWords ?? options.firstMaxWords ?? 8;
    },
  };
}
