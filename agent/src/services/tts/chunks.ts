import { StreamResampler } from "./resample";

/** Longest audio chunk sent: an interruption is then heard within one chunk. */
export const MAX_CHUNK_MS = 40;

/**
 * Re-cuts a voice's PCM (any sizes, at `fromRate`) into chunks of exactly `chunkMs` at
 * `toRate` (the last one shorter), resampling on the way. Stops at once when aborted.
 */
export async function* evenChunks(
  source: AsyncIterable<Int16Array>,
  fromRate: number,
  toRate: number,
  chunkMs: number,
  signal?: AbortSignal,
): AsyncGenerator<Int16Array> {
  if (!(chunkMs > 0 && chunkMs <= MAX_CHUNK_MS)) throw new RangeError(`chunkMs must be in (0, ${MAX_CHUNK_MS}] (got ${chunkMs})`);
  const size = Math.max(1, Math.floor((toRate * chunkMs) / 1000));
  const resampler = new StreamResampler(fromRate, toRate);
  let pending = new Int16Array(0);
  const append = (pcm: Int16Array) => {
    const merged = new Int16Array(pending.length + pcm.length);
    merged.set(pending);
    merged.set(pcm, pending.length);
    pending = merged;
  };
  for await (const pcm of source) {
    if (signal?.aborted) return;
    append(resampler.push(pcm));
    while (pending.length >= size) {
      yield pending.slice(0, size);
      pending = pending.subarray(size);
      if (signal?.aborted) return;
    }
  }
  if (signal?.aborted) return;
  append(resampler.flush());
  for (let i = 0; i < pending.length; i += size) yield pending.slice(i, i + size);
}
