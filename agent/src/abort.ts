/**
 * Abort handling for every layer: the one error an abort throws, the one rule that
 * recognises it, and a sleep an abort cuts short.
 *
 * The rule (`isAbort`): something ended because of an abort when the caller's signal
 * has fired, or when the error says so — `name` "AbortError" (ours, `fetch`,
 * `DOMException`) or `code` "ABORT_ERR" (Node's streams, timers and events). An abort
 * is the expected way for interrupted work to end: callers stay silent about it.
 */

/** The error an aborted operation throws; `what` names the operation ("LLM request"). */
export function abortError(what: string): Error {
  const e = new Error(`${what} aborted`);
  e.name = "AbortError";
  return e;
}

/** Throws `abortError(what)` when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortError(what);
}

/** Whether `error` (or the fired `signal`) means the work was aborted; see the rule above. */
export function isAbort(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  const e = error as { name?: unknown; code?: unknown } | null | undefined;
  return e?.name === "AbortError" || e?.code === "ABORT_ERR";
}

/**
 * Waits `ms`, or less when `signal` fires: it then resolves at once (it never rejects;
 * check `signal.aborted` after it, or use `throwIfAborted`). No wait at all for
 * `ms <= 0` or a signal that has already fired.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
