import { firstClauseSplitter } from "../../src/services/tts";

/** Feeds text as an LLM would: a few characters per token. */
function stream(text: string, tokenSize = 3, options?: Parameters<typeof firstClauseSplitter>[0]): string[][] {
  const s = firstClauseSplitter(options);
  const out: string[][] = [];
  for (let i = 0; i < text.length; i += tokenSize) out.push(s.push(text.slice(i, i + tokenSize)));
  out.push(s.flush());
  return out;
}

describe("first clause splitter", () => {
  it("releases the first clause at its comma, before the sentence is complete", () => {
    const s = firstClauseSplitter();
    expect(s.push("Sure,")).toEqual([]); // waits for the next character: "1,000" is no boundary
    expect(s.push(" I can")).toEqual(["Sure,"]);
    expect(s.push(" see a cup")).toEqual([]);
    expect(s.push(" and a person. Anything")).toEqual(["I can see a cup and a person."]);
    expect(s.flush()).toEqual(["Anything"]);
  });

  it("caps the first clause at a word count when there is no punctuation", () => {
    const s = firstClauseSplitter({ firstMaxWords: 5 });
    expect(s.push("one two three four five six seven")).toEqual(["one two three four five"]);
    expect(s.flush()).toEqual(["six seven"]);
  });

  it("keeps later pieces whole sentences, splitting long ones at a clause or the cap", () => {
    const text =
      "Yes. The kitchen has a table, two chairs and a window. " +
      "It is a long sentence with many words that goes on and on, and then continues after the comma for a while longer.";
    const pieces = stream(text).flat();
    expect(pieces).toEqual([
      "Yes.",
      "The kitchen has a table, two chairs and a window.",
      "It is a long sentence with many words that goes on and on,",
      "and then continues after the comma for a while longer.",
    ]);
    expect(stream("a b c d e f g h i j k l", 2, { firstMaxWords: 3, maxWords: 4 }).flat()).toEqual(["a b c", "d e f g", "h i j k", "l"]);
  });

  it("does not cut numbers, decimals or abbreviations", () => {
    const pieces = stream("It costs 1,000 dollars and 3.5 percent, says Dr. Smith e.g. today. Done", 1).flat();
    expect(pieces).toEqual(["It costs 1,000 dollars and 3.5 percent,", "says Dr. Smith e.g. today.", "Done"]);
  });

  it("lets a one-word \"No.\" answer start speaking at once", () => {
    expect(stream("No. I cannot see anything right now.", 2).flat()).toEqual(["No.", "I cannot see anything right now."]);
  });

  it("keeps a code block in one piece so it can be skipped whole", () => {
    const pieces = stream("Here:\n```js\nlet a = 1, b = 2. c();\n```\nThat is all.", 4).flat();
    expect(pieces).toEqual(["Here:", "```js\nlet a = 1, b = 2. c();\n```\nThat is all."]);
  });

  it("forgets buffered text on reset (the user interrupted) and starts a fresh first clause", () => {
    const s = firstClauseSplitter({ firstMaxWords: 3 });
    s.push("this was never");
    s.reset();
    expect(s.push("new answer here now")).toEqual(["new answer here"]);
    expect(s.flush()).toEqual(["now"]);
    expect(s.flush()).toEqual([]);
  });
});
