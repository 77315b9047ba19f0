// Aide's web page, in the browser: pipecat's own client over Aide's WebSocket.
// Bundled by esbuild when the agent starts (assets.ts); nothing is fetched from a CDN.
import { PipecatClient } from "@pipecat-ai/client-js";
import { WavMediaManager, WebSocketTransport } from "@pipecat-ai/websocket-transport";

const $ = (id: string) => document.getElementById(id) as HTMLElement;
const talk = $("talk") as HTMLButtonElement;
const statusLine = $("status");
const transcript = $("transcript");
const figures = $("figures");
const meter = $("meter") as HTMLProgressElement;
const micMeter = $("mic-meter") as HTMLProgressElement;
const pairingForm = $("pairing") as HTMLFormElement;
const pairingInput = $("pairing-code") as HTMLInputElement;
const pairingWhy = $("pairing-why");

// The pairing code: asked once, then remembered by this browser. A link with #code=…
// (npm start's QR code) gives it too; it is taken out of the address bar at once.
const PAIRING_KEY = "aide.pairingCode";
const PAIRING_HEADER = "x-aide-pairing-code";
const codeInLink = new URLSearchParams(location.hash.slice(1)).get("code");
if (codeInLink) {
  localStorage.setItem(PAIRING_KEY, codeInLink);
  history.replaceState(null, "", location.pathname + location.search);
}

// Offline: pipecat's default media manager downloads a call bundle from the internet
// and hangs without one. 512-byte chunks of 16 kHz mono PCM16 is what the agent takes.
const mediaManager = new WavMediaManager(512, 16000);
const transport = new WebSocketTransport({ mediaManager, recorderSampleRate: 16000, playerSampleRate: 24000 });

/**
 * The page's one reach into pipecat's internals, kept here alone. No public API gives
 * the bot's playback level: WavMediaManager keeps its WavStreamPlayer in the private
 * `_wavStreamPlayer` (websocket-transport 1.7.1), and the player's `analyser` is fed by
 * the node that plays bot audio. Undefined before the first connect; after an upgrade
 * that renames either, the playback meter stays at zero (the browser tests read it) —
 * re-check these names whenever @pipecat-ai/websocket-transport moves.
 */
function playbackAnalyser(): AnalyserNode | undefined {
  const player = (mediaManager as unknown as { _wavStreamPlayer?: { analyser?: AnalyserNode | null } })._wavStreamPlayer;
  return player?.analyser ?? undefined;
}

let botLine: HTMLElement | undefined;
let userPartial: HTMLElement | undefined;

function line(who: "user" | "bot" | "note", text: string): HTMLElement {
  const p = document.createElement("p");
  p.className = who;
  p.textContent = text;
  transcript.appendChild(p);
  transcript.scrollTop = transcript.scrollHeight;
  return p;
}

function note(event: string): void {
  aideHistory.events.push([performance.now(), event]);
  if (aideHistory.events.length > 2000) aideHistory.events.splice(0, 500);
}

function setStatus(text: string): void {
  statusLine.textContent = text;
}

// What the page is doing, in words a person understands; body[data-state] styles it and
// the tests read it. listening → hearing → thinking → speaking → listening is one turn.
type PageState = "idle" | "connecting" | "listening" | "hearing" | "thinking" | "speaking" | "lost";
const STATE_TEXT: Record<PageState, string> = {
  idle: "Press Talk to start.",
  connecting: "Connecting…",
  listening: "Listening — just talk.",
  hearing: "Hearing you…",
  thinking: "Thinking…",
  speaking: "Speaking — talk over it to interrupt.",
  lost: "Connection lost. Press Reconnect to try again.",
};
let state: PageState = "idle";
/** A turn whose transcript was empty gets no answer: do not say "Thinking…" forever. */
let thinkingTimer: ReturnType<typeof setTimeout> | undefined;
function setState(next: PageState): void {
  clearTimeout(thinkingTimer);
  if (next === "thinking") thinkingTimer = setTimeout(() => { if (state === "thinking") setState("listening"); }, 20_000);
  state = next;
  document.body.dataset.state = next;
  note(`state:${next}`);
  setStatus(STATE_TEXT[next]);
}
/** Set when the user pressed Stop: a disconnect then is not a lost connection. */
let leaving = false;

const client = new PipecatClient({
  transport,
  enableMic: true,
  enableCam: false,
  callbacks: {
    onBotReady: (data) => {
      setState("listening");
      talk.textContent = "Stop";
      talk.disabled = false;
      $("demo").hidden = !(data?.about as { demo?: boolean } | undefined)?.demo;
      showMicSettings();
      listenToMic();
    },
    onDisconnected: () => {
      if (document.body.dataset.pairing) return; // the pairing form says why
      setState(leaving ? "idle" : "lost");
      if (leaving) setStatus("Disconnected.");
      leaving = false;
      talk.textContent = state === "lost" ? "Reconnect" : "Talk";
      talk.disabled = false;
    },
    onUserStartedSpeaking: () => { note("user-started-speaking"); document.body.dataset.user = "speaking"; setState("hearing"); },
    onUserStoppedSpeaking: () => { note("user-stopped-speaking"); document.body.dataset.user = "quiet"; if (state === "hearing") setState("thinking"); },
    onBotStartedSpeaking: () => { note("bot-started-speaking"); document.body.dataset.bot = "speaking"; botLine = undefined; setState("speaking"); },
    onBotStoppedSpeaking: () => { note("bot-stopped-speaking"); document.body.dataset.bot = "quiet"; if (state === "speaking") setState("listening"); },
    onUserTranscript: (data) => {
      if (!data.final) {
        userPartial ??= line("user", "");
        userPartial.textContent = data.text;
        return;
      }
      if (userPartial) { userPartial.textContent = data.text; userPartial = undefined; } else line("user", data.text);
      botLine = undefined;
    },
    // bot-output reports the words whose audio was sent: the transcript shows what was said.
    onBotOutput: (data) => {
      botLine ??= line("bot", "");
      botLine.textContent = `${botLine.textContent ?? ""} ${data.text}`.trim();
    },
    onServerMessage: (data) => {
      if (data && data.type === "latency-report" && typeof data.text === "string") figures.textContent = data.text;
    },
    onError: (message) => {
      const data = message.data as { message?: string; fatal?: boolean; pairing?: string } | undefined;
      if (data?.pairing) return askForCode(data.pairing, data.message ?? "this assistant needs its pairing code");
      line("note", `⚠ ${data?.message ?? "error"}`);
      if (data?.fatal) setStatus("Disconnected after an error.");
    },
  },
});

async function showMicSettings(): Promise<void> {
  const track = client.tracks().local.audio;
  const s = track?.getSettings();
  $("mic").textContent = s ? `mic: echo cancellation ${s.echoCancellation ? "on" : "off"}, noise suppression ${s.noiseSuppression ? "on" : "off"}` : "mic: not available";
}

/** Shows the code form, saying why; a wrong remembered code is forgotten. */
function askForCode(kind: string, why: string): void {
  if (kind === "wrong") localStorage.removeItem(PAIRING_KEY);
  pairingWhy.textContent = why;
  pairingForm.hidden = false;
  document.body.dataset.pairing = kind;
  setStatus(kind === "rate-limited" ? "Too many wrong codes: wait, then try again." : "Enter the pairing code to talk.");
  talk.textContent = "Talk";
  talk.disabled = false;
  pairingInput.focus();
}

/** Asks the agent whether the remembered code is right before connecting, so a refusal says why. */
async function paired(code: string): Promise<boolean> {
  const res = await fetch("/pairing", { headers: code ? { [PAIRING_HEADER]: code } : {}, cache: "no-store" });
  if (res.ok) return true;
  const body = (await res.json().catch(() => ({}))) as { error?: string; pairing?: string };
  askForCode(body.pairing ?? "required", body.error ?? `the agent refused the connection (HTTP ${res.status})`);
  return false;
}

async function connect(): Promise<void> {
  talk.disabled = true;
  setState("connecting");
  const code = localStorage.getItem(PAIRING_KEY) ?? "";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  try {
    if (!(await paired(code))) return;
    pairingForm.hidden = true;
    delete document.body.dataset.pairing;
    await client.connect({ wsUrl: `${scheme}://${location.host}/ws${code ? `?code=${encodeURIComponent(code)}` : ""}` });
  } catch (error) {
    setState("lost");
    setStatus(`Could not connect: ${(error as Error).message}. Press Reconnect to try again.`);
    talk.textContent = "Reconnect";
    talk.disabled = false;
  }
}

// The microphone's level, so a person sees that they are heard (the "hearing you" meter).
let micAnalyser: AnalyserNode | undefined;
function listenToMic(): void {
  const track = client.tracks().local.audio;
  if (!track || micAnalyser) return;
  const context = new AudioContext();
  micAnalyser = context.createAnalyser();
  micAnalyser.fftSize = 1024;
  context.createMediaStreamSource(new MediaStream([track])).connect(micAnalyser);
}

talk.addEventListener("click", async () => {
  if (client.connected) {
    talk.disabled = true;
    leaving = true;
    await client.disconnect();
    return;
  }
  await connect();
});

pairingForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const code = pairingInput.value.trim();
  if (!code) return;
  localStorage.setItem(PAIRING_KEY, code);
  pairingInput.value = "";
  void connect();
});

// Over plain http from another device the browser has no microphone to give (no
// navigator.mediaDevices at all): say so at once rather than hang on "Connecting…".
if (!window.isSecureContext || !navigator.mediaDevices) {
  talk.disabled = true;
  document.body.dataset.insecure = "true";
  $("insecure").hidden = false;
  setStatus("The microphone cannot work on this page: it came over plain http.");
}

// Playback level from the player's analyser (playbackAnalyser above). The meter shows
// that the bot is audible; `window.aide` keeps a short history of levels and events (same
// clock) so a test can tell how fast the page goes quiet after a barge-in.
const aideHistory = { levels: [] as Array<[number, number]>, events: [] as Array<[number, string]> };
(window as unknown as { aide: typeof aideHistory }).aide = aideHistory;
// The player's analyser has fftSize 8192 (341 ms at 24 kHz); the level is taken over its
// newest 960 samples (40 ms) so the meter follows the sound closely.
let window8k = new Float32Array(8192);
setInterval(() => {
  const analyser = playbackAnalyser();
  let rms = 0;
  if (analyser) {
    if (window8k.length !== analyser.fftSize) window8k = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(window8k);
    const from = Math.max(0, window8k.length - 960);
    let sum = 0;
    for (let i = from; i < window8k.length; i++) sum += window8k[i] * window8k[i];
    rms = Math.sqrt(sum / (window8k.length - from));
  }
  meter.value = Math.min(1, rms * 4);
  if (micAnalyser) {
    const samples = new Float32Array(micAnalyser.fftSize);
    micAnalyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    micMeter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
  }
  aideHistory.levels.push([performance.now(), rms]);
  if (aideHistory.levels.length > 6000) aideHistory.levels.splice(0, 1000);
}, 20);
