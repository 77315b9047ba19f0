// Aide's STT and TTS as Home Assistant sees them: serve.ts run as a process, spoken to
// with the protocol's documented events from a peer written in this test (raw-wyoming.ts).
import { createSpeechToText, SpeechToText } from "../../src/services/stt";
import { ensureTinySpeechModels, TinySpeechModels } from "../../../scripts/models/tiny-speech";
import { peakOf, spokenPcm } from "../speech/audio";
import { RawEvent, RawPeer } from "./raw-wyoming";
import { SpeechServiceProcess, startServeProcess } from "../../../lib/speech-services";

let models: TinySpeechModels;
let sttService: SpeechServiceProcess;
let ttsService: SpeechServiceProcess;
let inProcess: SpeechToText;
let speech: Int16Array;
const peers: RawPeer[] = [];

async function peer(service: SpeechServiceProcess): Promise<RawPeer> {
  const p = await RawPeer.open(service.port);
  peers.push(p);
  return p;
}

function pcmBytes(pcm: Int16Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/** What Home Assistant sends for one utterance: transcribe, audio-start, 1024-sample chunks, audio-stop. */
async function transcribeOver(p: RawPeer, pcm: Int16Array, rate: number, channels = 1): Promise<string> {
  const format = { rate, width: 2, channels };
  p.send("transcribe", { language: "en" });
  p.send("audio-start", format);
  const step = 1024 * channels;
  for (let i = 0; i < pcm.length; i += step) p.send("audio-chunk", format, pcmBytes(pcm.subarray(i, i + step)));
  p.send("audio-stop");
  const answer = await p.next();
  expect(answer.type).toBe("transcript");
  return answer.data.text;
}

/** The service's answer to describe, which must be info. */
async function describeService(service: SpeechServiceProcess): Promise<Record<string, any>> {
  const p = await peer(service);
  p.send("describe");
  const info = await p.next();
  expect(info.type).toBe("info");
  return info.data;
}

function audioOf(events: RawEvent[]): Int16Array {
  const bytes = Buffer.concat(events.filter((e) => e.type === "audio-chunk").map((e) => e.payload));
  return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

beforeAll(async () => {
  models = await ensureTinySpeechModels();
  [sttService, ttsService] = await Promise.all([
    startServeProcess("stt", ["--port", "0"], { AIDE_MODELS_DIR: models.dir, STT_THREADS: "1" }),
    startServeProcess("tts", ["--port=0"], { AIDE_MODELS_DIR: models.dir, AIDE_TTS_VOICE: "piper" }),
  ]);
  inProcess = await createSpeechToText({ modelDir: models.dir, numThreads: 1 });
  speech = spokenPcm("Hello there, what can you see on the table?");
});

afterEach(() => peers.splice(0).forEach((p) => p.close()));
afterAll(async () => {
  await Promise.all([sttService?.stop(), ttsService?.stop()]);
});

describe("the speech-to-text service", () => {
  it("answers describe with info naming its recognizer and the languages it hears", async () => {
    const [program] = (await describeService(sttService)).asr;
    expect(program).toMatchObject({ installed: true, attribution: { name: expect.any(String), url: expect.stringMatching(/^https:\/\//) } });
    expect(program.models).toEqual([expect.objectContaining({ name: models.stt.name, languages: ["en"], installed: true })]);
  });

  it("transcribes spoken audio exactly as the in-process recognizer does, and silence as nothing", async () => {
    const p = await peer(sttService);
    const expected = (await inProcess.transcribe(speech, 16000)).text;
    expect(expected).toBe(models.phrase);
    expect(await transcribeOver(p, speech, 16000)).toBe(expected);
    // The same connection takes a second utterance; silence is not heard as the phrase.
    expect(await transcribeOver(p, new Int16Array(16000), 16000)).toBe("");
  });

  it("resamples 44.1 kHz stereo audio instead of refusing it", async () => {
    const p = await peer(sttService);
    const mono = spokenPcm("good morning, how are you today?", 44100);
    const stereo = new Int16Array(mono.length * 2);
    mono.forEach((v, i) => ((stereo[2 * i] = v), (stereo[2 * i + 1] = v)));
    expect(await transcribeOver(p, stereo, 44100, 2)).toBe((await inProcess.transcribe(mono, 44100)).text);
  });

  it("refuses 32-bit samples with an error that says to send 16-bit, and closes that connection", async () => {
    const p = await peer(sttService);
    p.send("audio-start", { rate: 16000, width: 4, channels: 1 });
    const error = await p.next();
    expect(error.type).toBe("error");
    expect(error.data.text).toMatch(/width 4: .*16-bit PCM only — send width 2/);
    expect(await p.closedByService()).toBe(true);
  });

  it("transcribes for several connections at once", async () => {
    const ps = await Promise.all([peer(sttService), peer(sttService), peer(sttService)]);
    const texts = await Promise.all(ps.map((p) => transcribeOver(p, speech, 16000)));
    expect(texts).toEqual([models.phrase, models.phrase, models.phrase]);
  });
});

describe("the text-to-speech service", () => {
  it("answers describe with info naming its voice and that it streams", async () => {
    const [program] = (await describeService(ttsService)).tts;
    expect(program.supports_synthesize_streaming).toBe(true);
    expect(program.voices).toEqual([expect.objectContaining({ name: models.tts.name, languages: ["en"], installed: true })]);
  });

  it("speaks a synthesize as 16-bit mono audio between audio-start and audio-stop", async () => {
    const p = await peer(ttsService);
    p.send("synthesize", { text: "Hello there, I can see a cup on the table." });
    const events = await p.until("audio-stop");
    expect(events[0]).toMatchObject({ type: "audio-start", data: { rate: 24000, width: 2, channels: 1 } });
    const chunks = events.filter((e) => e.type === "audio-chunk");
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(c.data).toMatchObject({ rate: 24000, width: 2, channels: 1 });
    const audio = audioOf(events);
    expect(audio.length / 24000).toBeGreaterThan(0.5);
    expect(peakOf(audio)).toBeGreaterThan(1000); // audible, not silence
    expect(events.map((e) => e.type)).toEqual(["audio-start", ...chunks.map(() => "audio-chunk"), "audio-stop"]);
  });

  it("streams: speaks the first clause before the rest of the text has arrived, and the compatibility synthesize not twice", async () => {
    const text = ["Hello there, ", "I can see a cup ", "on the table. It is blue."];
    const whole = await peer(ttsService);
    whole.send("synthesize", { text: text.join("") });
    const wholeAudio = audioOf(await whole.until("audio-stop"));

    const p = await peer(ttsService);
    p.send("synthesize-start", {});
    p.send("synthesize-chunk", { text: text[0] });
    // Only the first clause has been sent: its audio comes now, not after synthesize-stop.
    const first = await p.until("audio-stop");
    expect(audioOf(first).length).toBeGreaterThan(0);
    p.send("synthesize-chunk", { text: text[1] });
    p.send("synthesize-chunk", { text: text[2] });
    p.send("synthesize", { text: text.join("") }); // the protocol's backwards-compatible copy
    p.send("synthesize-stop");
    const rest = await p.until("synthesize-stopped");
    const streamed = audioOf([...first, ...rest]).length;
    // Each clause has its own audio-start/stop; all of them together say the text once.
    expect(rest.filter((e) => e.type === "audio-start").length).toBeGreaterThanOrEqual(1);
    expect(streamed).toBeGreaterThan(wholeAudio.length * 0.7);
    expect(streamed).toBeLessThan(wholeAudio.length * 1.5);
  });

  it("speaks for several connections at once", async () => {
    const ps = await Promise.all([peer(ttsService), peer(ttsService)]);
    ps.forEach((p, i) => p.send("synthesize", { text: `This is connection number ${i + 1}.` }));
    const audios = await Promise.all(ps.map(async (p) => audioOf(await p.until("audio-stop"))));
    for (const a of audios) expect(a.length).toBeGreaterThan(2400);
  });
});

describe("serve.ts", () => {
  it("takes a TCP health check (connect, then close or reset) without a log line, and serves on", async () => {
    const before = sttService.log();
    for (let i = 0; i < 5; i++) {
      const p = await RawPeer.open(sttService.port);
      if (i % 2) p.socket.resetAndDestroy();
      else p.socket.end();
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(sttService.log()).toBe(before);
    expect((await describeService(sttService)).asr).toHaveLength(1);
  });

  it("lists its settings with --help, and refuses a bad one saying which", () => {
    const { execFileSync, spawnSync } = require("node:child_process") as typeof import("node:child_process");
    const cwd = require("node:path").join(__dirname, "..", "..", "..");
    const help = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "agent/src/wyoming/serve.ts", "--help"], { cwd, encoding: "utf8" });
    for (const s of ["AIDE_WYOMING_HOST", "AIDE_WYOMING_PORT", "AIDE_MODELS_DIR", "STT_THREADS", "AIDE_TTS_VOICE", "10300", "10200"]) expect(help).toContain(s);
    const bad = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "agent/src/wyoming/serve.ts", "stt", "--port", "http"], { cwd, encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--port "http" must be a whole number from 0 to 65535/);
  });
});
