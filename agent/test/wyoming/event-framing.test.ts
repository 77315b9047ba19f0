// The codec reads the documented wire format however TCP cuts it, and never holds more
// than its bound of a header line a peer never ends.
import { EventParser, WyomingEvent, WyomingProtocolError } from "../../src/wyoming/codec";
import { rawEvent } from "./raw-wyoming";

function parseAll(bytes: Buffer, pieceSize: number): WyomingEvent[] {
  const parser = new EventParser();
  const out: WyomingEvent[] = [];
  for (let i = 0; i < bytes.length; i += pieceSize) parser.push(bytes.subarray(i, i + pieceSize), (e) => out.push(e));
  parser.end();
  return out;
}

describe("reading Wyoming events", () => {
  // Header data, data_length data merged over it, a payload: the README's three parts.
  const extra = '{"rate": 16000, "channels": 1}';
  const stream = Buffer.concat([
    Buffer.from(`{"type": "audio-start", "data": {"rate": 8000, "width": 2}, "data_length": ${Buffer.byteLength(extra)}}\n${extra}`),
    rawEvent("audio-chunk", { rate: 16000, width: 2, channels: 1 }, Buffer.from([1, 0, 2, 0, 3, 0])),
    Buffer.from('{"type": "audio-stop"}\n'),
  ]);

  it.each([1, 2, 7, 64, stream.length])("gives the same events when the bytes arrive %i at a time", (size) => {
    const events = parseAll(stream, size);
    expect(events.map((e) => e.type)).toEqual(["audio-start", "audio-chunk", "audio-stop"]);
    expect(events[0].data).toEqual({ rate: 16000, width: 2, channels: 1 }); // extra data wins over the header's
    expect([...events[1].payload!]).toEqual([1, 0, 2, 0, 3, 0]);
    expect(events[2].payload).toBeUndefined();
  });

  it("refuses a header line over 1 MiB having kept no more than the bound", () => {
    const parser = new EventParser();
    const piece = Buffer.alloc(64 * 1024, "x");
    let fed = 0;
    expect(() => {
      for (; fed < 10 * 1024 * 1024; fed += piece.length) parser.push(piece, () => undefined);
    }).toThrow(WyomingProtocolError);
    expect(fed).toBeLessThanOrEqual(1024 * 1024); // the piece that crossed 1 MiB was the last one read
  });

  it("refuses a declared payload over the bound before reading it", () => {
    const parser = new EventParser({ maxPayloadBytes: 1000 });
    expect(() => parser.push(Buffer.from('{"type": "audio-chunk", "payload_length": 5000000000}\n'), () => undefined)).toThrow(
      /payload_length 5000000000 is over this service's limit of 1000 bytes/,
    );
  });
});
