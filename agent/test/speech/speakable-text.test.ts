import { speakableText } from "../../src/services/tts";

describe("text the voice reads", () => {
  it("reads markdown as plain words", () => {
    expect(speakableText("## Plan\n**Bold** and *italic* and __strong__ and ~~gone~~ text")).toBe("Plan Bold and italic and strong and gone text");
    expect(speakableText("- first item\n- second item\n> quoted")).toBe("first item second item quoted");
    expect(speakableText("See [the docs](https://example.com/docs) and ![a cat](cat.png).")).toBe("See the docs and a cat.");
    expect(speakableText("Run `npm test` now")).toBe("Run npm test now");
  });

  it("skips code blocks instead of reading symbols", () => {
    expect(speakableText("Here it is:\n```ts\nconst x = a[0] * 2; // {}\n```\nDone.")).toBe("Here it is: Done.");
    expect(speakableText("```\nrm -rf /\n```")).toBe("");
    // An unclosed fence (the answer was cut) is skipped to the end too.
    expect(speakableText("Try this: ```bash\necho $HOME")).toBe("Try this:");
  });

  it("drops emoji, including joined and skin-toned ones", () => {
    expect(speakableText("Great job 👍🏽! 🎉🎉 Family: 👨‍👩‍👧 ❤️ 🇩🇪")).toBe("Great job! Family:");
    expect(speakableText("😀😀😀")).toBe("");
  });

  it("says a link's site name, not its letters", () => {
    expect(speakableText("Look at https://www.github.com/k2-fsa/sherpa-onnx?tab=readme for more.")).toBe("Look at github.com for more.");
    expect(speakableText("Go to www.debian.org.")).toBe("Go to debian.org.");
  });

  it("turns number symbols into words", () => {
    expect(speakableText("It costs $5 or €1, about 50% of 1,234,567 units.")).toBe("It costs 5 dollars or 1 euro, about 50 percent of 1234567 units.");
    expect(speakableText("It is -3°C outside, 20°F, 2+2=4, 3x4 room, pages 10-12, item #3.")).toBe(
      "It is minus 3 degrees Celsius outside, 20 degrees Fahrenheit, 2 plus 2 equals 4, 3 by 4 room, pages 10 to 12, item number 3.",
    );
  });

  it("names programming languages written with symbols", () => {
    expect(speakableText("I know C++, C# and F#.")).toBe("I know C plus plus, C sharp and F sharp.");
  });

  it("removes stray symbols and keeps ordinary punctuation", () => {
    expect(speakableText("Tom & Jerry <3 | {x} [y] \\ ^ ~ #")).toBe("Tom and Jerry 3, x y");
    expect(speakableText("Really?! Yes... ok")).toBe("Really? Yes. ok");
    expect(speakableText("   ")).toBe("");
    expect(speakableText("| a | b |\n|---|---|\n| 1 | 2 |")).toMatch(/^a, b, ?1, 2$/);
  });
});
