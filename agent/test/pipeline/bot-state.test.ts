import { BotState, frame } from "../../src/pipeline";

describe("the bot's state, one per session", () => {
  it("owes an answer from the user's words until it has been synthesized and spoken", () => {
    const bot = new BotState();
    expect(bot.busy).toBe(false);
    bot.observe(frame("transcription", { text: "hi", final: true, turnId: 1 }));
    expect(bot.busy).toBe(true);
    bot.observe(frame("bot-started-speaking"));
    bot.observe(frame("bot-stopped-speaking")); // a pause between two clauses
    expect(bot.busy).toBe(true);
    bot.observe(frame("llm-response-end", { turnId: 1 }));
    bot.observe(frame("bot-started-speaking"));
    expect(bot.busy).toBe(true);
    bot.observe(frame("bot-stopped-speaking"));
    expect(bot.busy).toBe(false);
    expect(bot.playsAudio).toBe(true);
  });

  it("owes nothing for an interim transcript, nor once an interruption dropped the answer", () => {
    const bot = new BotState();
    bot.observe(frame("transcription", { text: "wha", final: false, turnId: 1 }));
    expect(bot.busy).toBe(false);
    bot.answerOwed(); // a typed turn
    expect(bot.busy).toBe(true);
    bot.answerDropped();
    expect(bot.busy).toBe(false);
    expect(bot.playsAudio).toBe(false);
  });

  it("counts a frame once, where the first stage sees it: a later stage's copy cannot turn the clock back", () => {
    const bot = new BotState();
    const started = frame("bot-started-speaking");
    bot.observe(started);
    bot.observe(frame("bot-stopped-speaking"));
    bot.observe(started); // the same frame reaching the next stage upstream
    expect(bot.speaking).toBe(false);
  });
});
