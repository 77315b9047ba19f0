// The agent's recognizer and voice over Wyoming (AIDE_STT_URL / AIDE_TTS_URL): used while
// the service answers; when it is down the agent says so in one line and uses its
// in-process engine; when the service is back, one line, and the service again.
import { createSpeechToText, SpeechToText } from "../../src/services/stt";
import { createTextToSpeech, TextToSpeech } from "../../src/services/tts";
import { concatPcm } from "../../src/pipeline";
import { loadConfig, configHelp } from "../../src/config";
import { RemoteSpeechToText, RemoteTextToSpeech, RunningWyomingServer, startSpeechService } from "../../src/wyoming";
import { ensureTinySpeechModels, TinySpeechModels } from "../../../scripts/models/tiny-speech";
import { freePort } from "../../../test/support/ports";
import { spokenPcm } from "../speech/audio";

let models: TinySpeechModels;
let speech: Int16Array;
let localStt: SpeechToText;
let localTts: TextToSpeech;
const running: RunningWyomingServer[] = [];
const remotes: Array<{ close(): void }> = [];

beforeAll(async () => {
  models = await ensureTinySpeechModels();
  speech = spokenPcm("Hello there, what can you see on the table?");
  localStt = await createSpeechToText({ modelDir: models.dir, numThreads: 1 });
  localTts = await createTextToSpeech({ voice: "piper", piper: { modelDir: models.dir, numThreads: 1 } });
});
afterEach(async () => {
  remotes.splice(0).forEach((r) => r.close());
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function serve(kind: "stt" | "tts", port: number): Promise<RunningWyomingServer> {
  const s = await startSpeechService(kind, { host: "127.0.0.1", port, modelsDir: models.dir, ttsVoice: "piper", sttThreads: 1 }, () => undefined);
  running.push(s);
  return s;
}

async function collect(audio: AsyncIterable<Int16Array>): Promise<Int16Array[]> {
  const out: Int16Array[] = [];
  for await (const c of audio) out.push(c);
  return out;
}

async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("not within the time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Counts the calls that reach the in-process engine: zero means the service answered. */
function counted<T extends object>(engine: T, method: keyof T): { engine: () => Promise<T>; calls: () => number } {
  let calls = 0;
  const wrapped = new Proxy(engine, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== method || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls++;
        return value.apply(target, args);
      };
    },
  });
  return { engine: async () => wrapped, calls: () => calls };
}

/** A remote engine's options for the service at `port`: its log lines kept, a down service checked every 100 ms. */
function watched<E>(port: number, fallback?: () => Promise<E>) {
  const lines: string[] = [];
  return { lines, options: { url: () => `tcp://127.0.0.1:${port}`, fallback, log: (l: string) => void lines.push(l), checkEveryMs: 100 } };
}

describe("the agent's recognizer over Wyoming", () => {
  it("transcribes through the service, falls back in-process with one line while it is down, and returns to it with one line", async () => {
    const port = await freePort();
    const fallback = counted(localStt, "transcribe");
    const { lines, options } = watched(port, fallback.engine);
    const stt = new RemoteSpeechToText(options);
    remotes.push(stt);
    const expected = (await localStt.transcribe(speech, 16000)).text;

    let service = await serve("stt", port);
    await stt.check();
    expect(lines).toEqual([`speech recognition: using the Wyoming service at tcp://127.0.0.1:${port} (${models.stt.name})`]);
    expect((await stt.transcribe(speech, 16000)).text).toBe(expected);
    expect(fallback.calls()).toBe(0);

    await service.close();
    for (let turn = 0; turn < 3; turn++) expect((await stt.transcribe(speech, 16000)).text).toBe(expected);
    expect(fallback.calls()).toBe(3);
    const down = lines.filter((l) => /unavailable/.test(l));
    expect(down).toHaveLength(1);
    expect(down[0]).toMatch(new RegExp(`the Wyoming service at tcp://127.0.0.1:${port} is unavailable \\(.*ECONNREFUSED.*\\); using the in-process engine until it is back`));

    service = await serve("stt", port);
    await eventually(() => lines.some((l) => /is back \(/.test(l)));
    expect((await stt.transcribe(speech, 16000)).text).toBe(expected);
    expect(fallback.calls()).toBe(3); // the service answered again
    expect(lines.filter((l) => /is back \(/.test(l))).toEqual([`speech recognition: the Wyoming service at tcp://127.0.0.1:${port} is back (${models.stt.name}); using it again`]);
    expect(lines).toHaveLength(3);
  });

  it("follows the service when its address changes", async () => {
    const [oldPort, newPort] = [await freePort(), await freePort()];
    let url = `tcp://127.0.0.1:${oldPort}`;
    const lines: string[] = [];
    const fallback = counted(localStt, "transcribe");
    const stt = new RemoteSpeechToText({ url: () => url, fallback: fallback.engine, log: (l) => lines.push(l), checkEveryMs: 100 });
    remotes.push(stt);
    await stt.check(); // nothing there: down
    await serve("stt", newPort);
    url = `tcp://127.0.0.1:${newPort}`; // what the agent's config holds after the service moved
    await eventually(() => lines.some((l) => /is back \(/.test(l)));
    expect((await stt.transcribe(speech, 16000)).text).toBe(models.phrase);
    expect(fallback.calls()).toBe(0);
  });

  it("without a service or an in-process model, fails the turn saying both", async () => {
    const port = await freePort();
    const lines: string[] = [];
    const stt = new RemoteSpeechToText({ url: () => `tcp://127.0.0.1:${port}`, noFallbackReason: "no stt model in /nowhere", log: (l) => lines.push(l) });
    remotes.push(stt);
    await expect(stt.transcribe(speech, 16000)).rejects.toThrow(
      `speech recognition: the Wyoming service at tcp://127.0.0.1:${port} is unavailable and there is no in-process engine (no stt model in /nowhere)`,
    );
    expect(lines).toHaveLength(1);
  });
});

describe("the agent's voice over Wyoming", () => {
  it("speaks through the service in 40 ms chunks at 24 kHz, and in-process while the service is down", async () => {
    const port = await freePort();
    const fallback = counted(localTts, "synthesize");
    const { lines, options } = watched(port, fallback.engine);
    const tts = new RemoteTextToSpeech(options);
    remotes.push(tts);
    const text = "Hello there, I can see a cup on the table.";
    const local = concatPcm(await collect(localTts.synthesize(text)));

    const service = await serve("tts", port);
    const chunks = await collect(tts.synthesize(text));
    expect(fallback.calls()).toBe(0);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBe(960);
    // The service's voice is the same model: the same audio, give or take a resampler's edge.
    expect(Math.abs(concatPcm(chunks).length - local.length)).toBeLessThan(960);

    await service.close();
    expect(concatPcm(await collect(tts.synthesize(text))).length).toBe(local.length);
    expect(concatPcm(await collect(tts.synthesize(text))).length).toBe(local.length);
    expect(fallback.calls()).toBe(2);
    expect(lines.filter((l) => /voice: the Wyoming service .* is unavailable/.test(l))).toHaveLength(1);

    await serve("tts", port);
    await eventually(() => lines.some((l) => /is back \(/.test(l)));
    expect((await collect(tts.synthesize(text))).length).toBeGreaterThan(10);
    expect(fallback.calls()).toBe(2);
  });

  it("stops at once when a barge-in aborts, and the next answer carries none of the old one's audio", async () => {
    const port = await freePort();
    await serve("tts", port);
    const lines: string[] = [];
    const tts = new RemoteTextToSpeech({ url: () => `tcp://127.0.0.1:${port}`, log: (l) => lines.push(l) });
    remotes.push(tts);
    const long = "This is a long answer. It has several sentences. It would take many seconds to say all of it out loud, one after another.";
    const ac = new AbortController();
    const got: Int16Array[] = [];
    for await (const c of tts.synthesize(long, ac.signal)) {
      got.push(c);
      if (got.length === 3) ac.abort();
    }
    expect(got).toHaveLength(3);
    const short = "Yes.";
    const alone = concatPcm(await collect(new RemoteTextToSpeech({ url: () => `tcp://127.0.0.1:${port}`, log: () => undefined }).synthesize(short)));
    expect(concatPcm(await collect(tts.synthesize(short)))).toEqual(alone);
    expect(lines).toEqual([]); // an abort is not the service being down
  });
});

describe("the agent's settings for the speech services", () => {
  it("takes tcp://host:port addresses, lists them in --help, and refuses anything else saying what to write", () => {
    const unset = loadConfig([], {});
    expect([unset.sttUrl, unset.ttsUrl]).toEqual([undefined, undefined]);
    expect(loadConfig(["--tts-url", "tcp://[fd00::2]:10200"], { AIDE_STT_URL: "tcp://192.168.1.102:10300" })).toMatchObject({
      sttUrl: "tcp://192.168.1.102:10300",
      ttsUrl: "tcp://[fd00::2]:10200",
    });
    expect(configHelp()).toMatch(/--stt-url\s+AIDE_STT_URL/);
    expect(configHelp()).toMatch(/--tts-url\s+AIDE_TTS_URL/);
    expect(() => loadConfig([], { AIDE_STT_URL: "http://192.168.1.102:10300", AIDE_TTS_URL: "tcp://speech" })).toThrow(
      /AIDE_STT_URL="http:\/\/192.168.1.102:10300" is not usable: .*must start with tcp:\/\/[\s\S]*AIDE_TTS_URL="tcp:\/\/speech" is not usable: .*needs a host and a port/,
    );
  });
});
