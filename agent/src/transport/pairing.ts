/**
 * The pairing code: only the household talks to Aide. A client proves it knows the code
 * (printed by `npm start`, a stack output of `pulumi up`) before a session starts; the
 * page asks for it once and remembers it.
 *
 * Connections from this machine itself (loopback) need no code: whoever is on the agent's
 * machine can read the code file anyway, and `npm start` opened on localhost keeps working
 * as it always did. Anyone else needs it. Wrong codes are counted per address: once an
 * address has given WRONG_CODES_PER_MINUTE - 1 wrong codes within a minute, its next
 * attempts are refused without being compared, until the oldest falls out of the minute.
 */
import { createHash, randomInt, timingSafeEqual } from "node:crypto";

export const WRONG_CODES_PER_MINUTE = 20;
const WINDOW_MS = 60_000;

export type PairingVerdict =
  | { ok: true }
  | { ok: false; kind: "required" | "wrong" | "rate-limited"; reason: string; retryAfterS?: number };

/** Letters and digits no one misreads (no 0/o, 1/l/i). */
const CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";

/** A new random code, "k7pm-2qxd" (31^8 ≈ 8.5e11 codes: beyond guessing at 19 tries a minute). */
export function newPairingCode(): string {
  const chars = Array.from({ length: 8 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]);
  return `${chars.slice(0, 4).join("")}-${chars.slice(4).join("")}`;
}

/** Codes are compared without case, spaces or dashes: "K7PM-2QXD" = "k7pm 2qxd". */
export function normalizePairingCode(code: string): string {
  return code.replace(/[\s-]+/g, "").toLowerCase();
}

/** Why `code` cannot be a pairing code, or undefined when it can. */
export function pairingCodeProblem(code: string): string | undefined {
  const n = normalizePairingCode(code);
  if (!/^[a-z0-9]+$/.test(n)) return "must be letters and digits (dashes and spaces are ignored)";
  if (n.length < 6 || n.length > 64) return "must be 6 to 64 letters and digits";
  return undefined;
}

export function isLoopback(address: string): boolean {
  return address === "::1" || /^(::ffff:)?127\./.test(address);
}

export class PairingGate {
  private readonly expected: Buffer;
  private readonly wrong = new Map<string, number[]>();

  constructor(code: string, private readonly now: () => number = () => Date.now()) {
    const problem = pairingCodeProblem(code);
    if (problem) throw new Error(`the pairing code ${problem}`);
    this.expected = digest(code);
  }

  /** Checks the code a client from `address` gave (undefined: none). */
  check(address: string, given: string | undefined): PairingVerdict {
    if (isLoopback(address)) return { ok: true };
    const now = this.now();
    if (this.wrong.size > 4096) this.forgetOlderThan(now - WINDOW_MS);
    const recent = (this.wrong.get(address) ?? []).filter((t) => now - t < WINDOW_MS);
    if (recent.length) this.wrong.set(address, recent);
    else this.wrong.delete(address);
    if (recent.length >= WRONG_CODES_PER_MINUTE - 1) {
      const retryAfterS = Math.ceil((recent[0] + WINDOW_MS - now) / 1000);
      return {
        ok: false, kind: "rate-limited", retryAfterS,
        reason: `too many wrong pairing codes from ${address}: try again in ${retryAfterS} s`,
      };
    }
    if (given === undefined || given.trim() === "") {
      return { ok: false, kind: "required", reason: "this assistant needs its pairing code: npm start prints it (on a cluster: pulumi stack output pairingCode --show-secrets)" };
    }
    if (timingSafeEqual(digest(given), this.expected)) return { ok: true };
    recent.push(now);
    this.wrong.set(address, recent);
    return { ok: false, kind: "wrong", reason: "wrong pairing code: check it and enter it again" };
  }

  /** Keeps the table of addresses small when many have tried once and gone away. */
  private forgetOlderThan(cutoff: number): void {
    for (const [address, times] of this.wrong) if (times[times.length - 1] < cutoff) this.wrong.delete(address);
  }
}

/** Equal-length digests, so the comparison takes the same time whatever was sent. */
function digest(code: string): Buffer {
  return createHash("sha256").update(normalizePairingCode(code)).digest();
}
