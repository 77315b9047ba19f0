// What a voice should say for a piece of LLM text: the words, never the symbols.
// LLMs answer in markdown with emoji, code and links; read aloud as-is that becomes
// "asterisk asterisk" and "h t t p s colon slash slash". Code blocks are skipped
// (nobody wants code read out), links become their text or site name, emoji go,
// and number symbols become words.

const CODE_FENCE = /(```|~~~)[\s\S]*?(\1|$)/g;
const WEB_ADDRESS = /\b(?:https?:\/\/|www\.)[^\s<>()"']*[^\s<>()"'.,;:!?]/gi;
const EMOJI = /[\p{Extended_Pictographic}\p{Regional_Indicator}\u{1F3FB}-\u{1F3FF}\u{FE0F}\u{FE0E}\u{200D}\u{20E3}]/gu;

/** "https://www.github.com/a/b?x=1" → "github.com". */
function siteName(url: string): string {
  const m = /^(?:https?:\/\/)?(?:www\.)?([^/:?#]+)/i.exec(url);
  return m ? m[1].replace(/[.,;:!?]+$/, "") : "a link";
}

const CURRENCY: Record<string, [string, string]> = { $: ["dollar", "dollars"], "€": ["euro", "euros"], "£": ["pound", "pounds"] };

function speakNumbers(s: string): string {
  return (
    s
      // 1,234,567 → 1234567 (the comma is not a pause, and the clause splitter must not cut there)
      .replace(/\b\d{1,3}(?:,\d{3})+\b/g, (m) => m.replace(/,/g, ""))
      .replace(/([$€£])\s?(\d+(?:\.\d+)?)/g, (_, c: string, n: string) => `${n} ${n === "1" ? CURRENCY[c][0] : CURRENCY[c][1]}`)
      .replace(/(\d)\s?%/g, "$1 percent")
      .replace(/(\d)\s?°\s?C\b/g, "$1 degrees Celsius")
      .replace(/(\d)\s?°\s?F\b/g, "$1 degrees Fahrenheit")
      .replace(/(\d)\s?°/g, "$1 degrees")
      .replace(/(\d)\s?[x×]\s?(\d)/g, "$1 by $2")
      .replace(/(\d)\s?\+\s?(\d)/g, "$1 plus $2")
      .replace(/(\d)\s?=\s?(\d)/g, "$1 equals $2")
      .replace(/(\d)\s?[-–]\s?(\d)/g, "$1 to $2")
      .replace(/(^|\s)[-−](\d)/g, "$1minus $2")
      .replace(/#(\d)/g, "number $1")
  );
}

function stripMarkdown(s: string): string {
  return (
    s
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, "$1") // image → its alt text
      .replace(/\[([^\]]+)\]\([^)]*\)/g, "$1") // link → its text
      .replace(/`([^`]*)`/g, "$1") // inline code → its text
      .replace(/^\s{0,3}#{1,6}\s+/gm, "") // headings
      .replace(/^\s{0,3}>\s?/gm, "") // block quotes
      .replace(/^\s*(?:[-*_]\s*){3,}$/gm, "") // horizontal rules
      .replace(/^\s*[-*+]\s+/gm, "") // bullets
      .replace(/^\s*\|?(?:\s*:?-+:?\s*\|)+\s*$/gm, "") // table separator rows
      .replace(/^\s*\|/gm, "") // table row starts
      .replace(/\|\s*$/gm, ",") // table row ends
      .replace(/\s*\|\s*/g, ", ") // table cells
      .replace(/(\*\*|__|\*|_|~~)(?=\S)([^]*?\S)\1/g, "$2") // bold, italics, strike
  );
}

/**
 * Text a voice can read: markdown, code blocks, emoji, URLs and stray symbols removed
 * or turned into words. Returns "" when nothing speakable is left.
 */
export function speakableText(text: string): string {
  let s = text.replace(CODE_FENCE, " ");
  s = s.replace(WEB_ADDRESS, (u) => siteName(u));
  s = stripMarkdown(s);
  s = s.replace(EMOJI, "");
  s = speakNumbers(s);
  s = s.replace(/\s&\s/g, " and ").replace(/@/g, " at ");
  s = s.replace(/\bC\+\+/g, "C plus plus").replace(/\b([CF])#/g, "$1 sharp");
  // Whatever symbols are left would be spelled out; drop them.
  s = s.replace(/[*_`~^|\\<>{}[\]#=+]/g, " ");
  s = s.replace(/\s+([,.!?;:])/g, "$1").replace(/[,.!?;:]{2,}/g, (m) => m[0]);
  s = s.replace(/\s+/g, " ").trim().replace(/,$/, "");
  return /[\p{L}\p{N}]/u.test(s) ? s : "";
}
