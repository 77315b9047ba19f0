// One turn drawn as a timeline: a panel per placement, a row per node (and the user's
// phone), a bar per stage, on a common axis of seconds since the user began the line.
// Plain SVG with no dependencies, so any browser or image viewer shows it.
import type { TapRecord } from "./llm-tap";
import type { TurnRecord } from "./conversation";

export interface TimelineBar { label: string; start: number; end: number; color: string }
export interface TimelineRow { name: string; bars: TimelineBar[] }
export interface TimelinePanel { title: string; rows: TimelineRow[]; /** the voice-to-voice wait, seconds */ wait?: number }

export const STAGE_COLORS = {
  speech: "#8da0cb",
  vad: "#bdbdbd",
  stt: "#66c2a5",
  recall: "#a6d854",
  prompt: "#fc8d62",
  generate: "#e78ac3",
  tts: "#ffd92f",
  audio: "#e5c494",
} as const;

/** The bars of one turn, from the phone's record, the agent's marks and the LLM tap. */
export function turnRows(turn: TurnRecord, llm: TapRecord[], nodes: { agent: string; llm: string[] }): TimelineRow[] {
  const t0 = turn.speechStart;
  const sec = (x: number) => (x - t0) / 1000;
  const at = turn.report?.at ?? {};
  const bar = (label: string, a: number | undefined, b: number | undefined, color: string): TimelineBar[] =>
    a !== undefined && b !== undefined && b >= a ? [{ label, start: sec(a), end: sec(b), color }] : [];
  const phone: TimelineRow = {
    name: "phone (user)",
    bars: [
      ...bar("speaks", turn.speechStart, turn.speechEnd, STAGE_COLORS.speech),
      ...bar("hears the answer", turn.firstAudio, turn.botStopped ?? (turn.firstAudio !== undefined ? turn.firstAudio + 1500 : undefined), STAGE_COLORS.audio),
    ],
  };
  const asked = llm[0]?.asked;
  const firstToken = at["llm-first-token"] ?? llm.find((r) => r.firstToken)?.firstToken;
  const agent: TimelineRow = {
    name: `${nodes.agent} (agent)`,
    bars: [
      ...bar("VAD waits for silence", turn.speechEnd, at["user-stopped-speaking"], STAGE_COLORS.vad),
      ...bar("STT", at["user-stopped-speaking"], at["transcript-final"], STAGE_COLORS.stt),
      ...bar("recall + prompt", at["transcript-final"], asked, STAGE_COLORS.recall),
      ...bar("first clause → TTS", firstToken, at["tts-first-audio"], STAGE_COLORS.tts),
      ...bar("audio out", at["tts-first-audio"], at["bot-started-speaking"], STAGE_COLORS.audio),
    ],
  };
  const llmBars: TimelineBar[] = [];
  for (const [i, r] of llm.entries()) {
    const n = llm.length > 1 ? ` #${i + 1}${r.forcedTool ? " (tool call)" : ""}` : r.forcedTool ? " (tool call)" : "";
    llmBars.push(...bar(`prompt eval${n} (${r.promptTokens ?? "?"} tok)`, r.asked, r.firstToken, STAGE_COLORS.prompt));
    llmBars.push(...bar(`generate${n} (${r.predictedTokens ?? "?"} tok)`, r.firstToken, r.ended, STAGE_COLORS.generate));
  }
  // A split model works on every token on each of its nodes in turn: the same bars on each.
  const llmRows = nodes.llm.map((name, i) => ({ name: `${name} (LLM${nodes.llm.length > 1 ? ` part ${i + 1}` : ""})`, bars: llmBars }));
  return [phone, agent, ...llmRows];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function timelineSvg(title: string, panels: TimelinePanel[], footnote: string): string {
  const width = 1100;
  const left = 190;
  const rowH = 26;
  const axisH = 24;
  const panelGap = 34;
  const maxT = Math.max(1, ...panels.flatMap((p) => p.rows.flatMap((r) => r.bars.map((b) => b.end))));
  const step = maxT > 60 ? 10 : maxT > 20 ? 5 : maxT > 8 ? 2 : 1;
  const scale = (width - left - 20) / (Math.ceil(maxT / step) * step);
  const out: string[] = [];
  let y = 40;
  for (const p of panels) {
    out.push(`<text x="10" y="${y}" font-size="14" font-weight="bold">${esc(p.title)}${p.wait !== undefined ? ` — the user waits ${p.wait.toFixed(1)} s for the first word` : ""}</text>`);
    y += 10;
    for (const row of p.rows) {
      out.push(`<text x="10" y="${y + rowH * 0.65}" font-size="12">${esc(row.name)}</text>`);
      out.push(`<line x1="${left}" y1="${y + rowH}" x2="${width - 20}" y2="${y + rowH}" stroke="#eee"/>`);
      for (const b of row.bars) {
        const x = left + b.start * scale;
        const w = Math.max(2, (b.end - b.start) * scale);
        out.push(`<rect x="${x.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${b.color}" stroke="#555" stroke-width="0.5"><title>${esc(`${b.label}: ${b.start.toFixed(2)}–${b.end.toFixed(2)} s (${(b.end - b.start).toFixed(2)} s)`)}</title></rect>`);
        if (w > 60) out.push(`<text x="${(x + 4).toFixed(1)}" y="${y + rowH * 0.65}" font-size="10">${esc(b.label)}</text>`);
      }
      y += rowH;
    }
    for (let t = 0; t <= maxT + step; t += step) {
      const x = left + t * scale;
      if (x > width - 20) break;
      out.push(`<line x1="${x.toFixed(1)}" y1="${y}" x2="${x.toFixed(1)}" y2="${y + 5}" stroke="#333"/><text x="${(x - 4).toFixed(1)}" y="${y + 17}" font-size="10">${t}s</text>`);
    }
    y += axisH + panelGap;
  }
  const legend = Object.entries({ "user speaks": STAGE_COLORS.speech, "VAD waits for silence": STAGE_COLORS.vad, STT: STAGE_COLORS.stt, "recall + prompt": STAGE_COLORS.recall, "LLM prompt eval": STAGE_COLORS.prompt, "LLM generation": STAGE_COLORS.generate, "first clause → TTS": STAGE_COLORS.tts, "audio": STAGE_COLORS.audio });
  let lx = 10;
  for (const [name, color] of legend) {
    out.push(`<rect x="${lx}" y="${y - 10}" width="12" height="12" fill="${color}" stroke="#555" stroke-width="0.5"/><text x="${lx + 16}" y="${y}" font-size="11">${esc(name)}</text>`);
    lx += 30 + name.length * 6.2;
  }
  y += 20;
  out.push(`<text x="10" y="${y}" font-size="11" fill="#444">${esc(footnote)}</text>`);
  const height = y + 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="16" font-weight="bold">${esc(title)}</text>${out.join("")}</svg>\n`;
}
