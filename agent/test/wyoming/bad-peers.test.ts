// A Wyoming peer that sends garbage, a 10 MB header line, a payload longer than it
// declared, or stops mid-event: it gets an error that says what was wrong, its connection
// is closed, and the service goes on serving a second connection meanwhile.
import { ensureTinySpeechModels } from "../../../scripts/models/tiny-speech";
import { spokenPcm } from "../speech/audio";
import { rawEvent, RawPeer } from "./raw-wyoming";
import { SpeechServiceProcess, startServeProcess } from "../../../lib/speech-services";

let service: SpeechServiceProcess;
let phrase: string;
const peers: RawPeer[] = [];

async function peer(): Promise<RawPeer> {
  const p = await RawPeer.open(service.port);
  peers.push(p);
  return p;
}

beforeAll(async () => {
  const models = await ensureTinySpeechModels();
  phrase = models.phrase;
  service = await startServeProcess("stt", ["--port", "0"], { AIDE_MODELS_DIR: models.dir, STT_THREADS: "1" });
});
afterEach(() => peers.splice(0).forEach((p) => p.close()));
afterAll(() => service?.stop());

const format = { rate: 16000, width: 2, channels: 1 };

/**
 * `misbehave` runs on one connection while a well-behaved one is half-way through an
 * utterance; the bad one must get `error` + a closed connection, the good one its transcript.
 */
async function expectRefusedWhileOthersServed(misbehave: (bad: RawPeer) => void, message: RegExp): Promise<void> {
  const good = await peer();
  const speech = spokenPcm("what is on the table?");
  good.send("audio-start", format);
  const half = Math.floor(speech.length / 2);
  const bytes = (pcm: Int16Array) => Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  good.send("audio-chunk", format, bytes(speech.subarray(0, half)));

  const bad = await peer();
  misbehave(bad);
  const error = await bad.next();
  expect(error.type).toBe("error");
  expect(error.data.text).toMatch(message);
  expect(await bad.closedByService()).toBe(true);

  good.send("audio-chunk", format, bytes(speech.subarray(half)));
  good.send("audio-stop");
  expect(await good.next()).toMatchObject({ type: "transcript", data: { text: phrase } });
  good.send("describe");
  expect((await good.next()).type).toBe("info");
  // The service log names the problem too (what an operator sees).
  expect(service.log()).toMatch(message);
}

describe("a Wyoming peer that breaks the protocol", () => {
  it("sending a line that is not JSON gets told so", async () => {
    await expectRefusedWhileOthersServed((bad) => bad.write("hello there\n"), /event header is not JSON .*"hello there"/);
  });

  it("sending a JSON header that is not an object, or has no type, gets told which", async () => {
    await expectRefusedWhileOthersServed((bad) => bad.write("[1, 2, 3]\n"), /event header must be a JSON object, got an array/);
    await expectRefusedWhileOthersServed((bad) => bad.write('{"data": {"text": "hi"}}\n'), /event header has no "type" string/);
  });

  it("sending a 10 MB header line is refused at the 1 MiB bound", async () => {
    let sent = 0;
    await expectRefusedWhileOthersServed((bad) => {
      bad.write('{"type": "transcribe", "data": {"pad": "');
      // 10 MB in 64 KB writes, no newline anywhere; the socket may be closed under us.
      const piece = Buffer.alloc(64 * 1024, "x");
      const pump = () => {
        while (sent < 10 * 1024 * 1024 && !bad.socket.destroyed) {
          sent += piece.length;
          if (!bad.socket.write(piece)) return void bad.socket.once("drain", pump);
        }
      };
      pump();
    }, /event header line is longer than 1048576 bytes \(no newline yet\)/);
  });

  it("sending more payload bytes than payload_length gets told that is the likely cause", async () => {
    await expectRefusedWhileOthersServed((bad) => {
      bad.send("audio-start", format);
      const header = rawEvent("audio-chunk", format, Buffer.alloc(320)).subarray(0, -320); // declares 320 bytes
      bad.write(Buffer.concat([header, Buffer.alloc(320 + 100, 7)])); // …and sends 420
      bad.send("audio-stop");
    }, /follows a "audio-chunk" event's payload_length 320 bytes: was that payload longer than declared\?/);
  });

  it("closing after more payload bytes than payload_length gets the same hint", async () => {
    await expectRefusedWhileOthersServed((bad) => {
      const header = rawEvent("audio-chunk", format, Buffer.alloc(640)).subarray(0, -640);
      bad.send("audio-start", format);
      bad.write(Buffer.concat([header, Buffer.alloc(640 + 10, 7)]));
      bad.socket.end();
    }, /ended in the middle of an event header \(10 bytes without a newline\) — it follows a "audio-chunk" event's payload_length 640 bytes: was that payload longer than declared\?/);
  });

  it("stopping in the middle of an event's payload gets told how far it got", async () => {
    await expectRefusedWhileOthersServed((bad) => {
      bad.send("audio-start", format);
      const whole = rawEvent("audio-chunk", format, Buffer.alloc(32000));
      bad.write(whole.subarray(0, whole.length - 32000 + 1000)); // the header and 1000 of 32000 payload bytes
      bad.socket.end(); // half-close: it can still hear why
    }, /connection ended in the middle of a "audio-chunk" event: got 1000 bytes of its payload \(payload_length 32000\)/);
  });

  it("stopping in the middle of a header line gets told so", async () => {
    await expectRefusedWhileOthersServed((bad) => {
      bad.write('{"type": "audio-st');
      bad.socket.end();
    }, /connection ended in the middle of an event header \(18 bytes without a newline\)/);
  });
});
