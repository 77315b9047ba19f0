// Proves a binary is legacy: disassembles it (objdump -d) and lists every instruction a
// Core 2 (or, for the sse2 profile, an SSE2-only Athlon 64) cannot execute. qemu's
// core2duo model faults on AVX but happily runs SSE4.x, so this scan is the check for
// SSE4.1/4.2, POPCNT and BMI; the qemu run is the check that the code really runs.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export type IsaProfile = "core2" | "sse2";

const SSE41 = [
  "pblendw", "pblendvb", "blendps", "blendpd", "blendvps", "blendvpd", "dpps", "dppd", "insertps",
  "extractps", "pextrb", "pextrd", "pextrq", "pinsrb", "pinsrd", "pinsrq", "pmaxsb", "pmaxsd", "pmaxud",
  "pmaxuw", "pminsb", "pminsd", "pminud", "pminuw", "pmovsxbw", "pmovsxbd", "pmovsxbq", "pmovsxwd",
  "pmovsxwq", "pmovsxdq", "pmovzxbw", "pmovzxbd", "pmovzxbq", "pmovzxwd", "pmovzxwq", "pmovzxdq",
  "pmuldq", "pmulld", "ptest", "roundps", "roundpd", "roundss", "roundsd", "mpsadbw", "phminposuw",
  "packusdw", "pcmpeqq", "movntdqa",
];
const SSE42 = ["pcmpgtq", "pcmpestri", "pcmpestrm", "pcmpistri", "pcmpistrm", "crc32b", "crc32w", "crc32l", "crc32q", "crc32"];
// Later than Core 2 too: POPCNT/LZCNT (Nehalem/ABM), MOVBE (Atom/Haswell), BMI1/2, ADX,
// AES-NI, CLMUL, RDRAND/RDSEED, SHA.
const LATER = [
  "popcnt", "lzcnt", "tzcnt", "movbe", "andn", "bextr", "blsi", "blsr", "blsmsk", "bzhi", "pdep", "pext", "sarx",
  "shlx", "shrx", "rorx", "mulx", "adcx", "adox", "aesenc", "aesenclast", "aesdec", "aesdeclast", "aesimc",
  "aeskeygenassist", "pclmulqdq", "rdrand", "rdseed", "sha1rnds4", "sha1nexte", "sha1msg1", "sha1msg2",
  "sha256rnds2", "sha256msg1", "sha256msg2",
];
const SSSE3 = [
  "pshufb", "phaddw", "phaddd", "phaddsw", "phsubw", "phsubd", "phsubsw", "pmaddubsw", "pmulhrsw",
  "psignb", "psignw", "psignd", "pabsb", "pabsw", "pabsd", "palignr",
];
const PREFIXES = new Set(["rep", "repz", "repe", "repnz", "repne", "lock", "notrack", "bnd", "data16", "addr32", "cs", "ds", "es", "fs", "gs", "ss"]);

/**
 * Instructions that decode as something newer but are safe on the target, each with why:
 * - tzcnt: GCC emits `rep bsf` for __builtin_ctz under -mtune=generic; pre-BMI CPUs run it
 *   as bsf, which gives the same result for the non-zero inputs GCC uses it on.
 * - lzcnt in miniaudio's dr_flac (linked into llama-server for audio input): it checks
 *   CPUID for LZCNT at run time before taking that path (ma_dr_flac__has_lzcnt).
 * - rdrand/rdseed in the statically linked libstdc++'s std::random_device helpers: it
 *   picks them only after CPUID says the CPU has them (libstdc++ src/c++11/random.cc).
 */
const ALLOWED: { mnemonic: string; inFunction?: RegExp; why: string }[] = [
  { mnemonic: "tzcnt", why: "GCC's rep-bsf encoding; runs as bsf on pre-BMI CPUs" },
  { mnemonic: "lzcnt", inFunction: /dr_flac/, why: "dr_flac checks CPUID for LZCNT before using it" },
  { mnemonic: "rdrand", inFunction: /__x86_rdrand/, why: "std::random_device checks CPUID first" },
  { mnemonic: "rdseed", inFunction: /__x86_rdseed/, why: "std::random_device checks CPUID first" },
];

export interface Violation { mnemonic: string; operands: string; fn: string; address: string; reason: string }
export interface ScanResult { binary: string; instructions: number; violations: Violation[]; allowed: Record<string, number> }

export function classify(mnemonic: string, operands: string, profile: IsaProfile): string | undefined {
  if (/%[yz]mm\d|%k[0-7]\b/.test(operands)) return "AVX/AVX-512 register";
  if (mnemonic.startsWith("v") && mnemonic !== "verr" && mnemonic !== "verw") return "VEX/EVEX-encoded (AVX)";
  if (mnemonic.startsWith("{vex") || mnemonic.startsWith("{evex")) return "VEX/EVEX-encoded (AVX)";
  if (SSE41.includes(mnemonic)) return "SSE4.1";
  // pextrw to a register is SSE2; SSE4.1 added the memory-destination form.
  if (mnemonic === "pextrw" && !/,%[er]?[a-z0-9]+$/.test(operands.trim())) return "SSE4.1 (pextrw to memory)";
  if (SSE42.includes(mnemonic)) return "SSE4.2";
  if (LATER.includes(mnemonic)) return "newer than Core 2 (POPCNT/LZCNT/BMI/AES/...)";
  if (profile === "sse2" && SSSE3.includes(mnemonic)) return "SSSE3";
  return undefined;
}

/** Disassembles `binary` and returns what the target CPU cannot run. */
export async function scanBinary(binary: string, profile: IsaProfile): Promise<ScanResult> {
  const child = spawn("objdump", ["-d", "--no-show-raw-insn", binary], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (b) => { err += b; });
  const exited = new Promise<number | null>((ok, fail) => { child.once("exit", ok); child.once("error", fail); });
  const result: ScanResult = { binary, instructions: 0, violations: [], allowed: {} };
  let fn = "?";
  for await (const line of createInterface({ input: child.stdout })) {
    const header = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (header) { fn = header[1]; continue; }
    const m = /^\s*([0-9a-f]+):\t(.*)$/.exec(line);
    if (!m) continue;
    const words = m[2].trim().split(/\s+/);
    while (words.length > 1 && PREFIXES.has(words[0])) words.shift();
    const mnemonic = words.shift() ?? "";
    const operands = words.join(" ");
    result.instructions++;
    const reason = classify(mnemonic, operands, profile);
    if (!reason) continue;
    const allow = ALLOWED.find((a) => a.mnemonic === mnemonic && (!a.inFunction || a.inFunction.test(fn)));
    if (allow) { result.allowed[mnemonic] = (result.allowed[mnemonic] ?? 0) + 1; continue; }
    result.violations.push({ mnemonic, operands, fn, address: m[1], reason });
  }
  const code = await exited;
  if (code !== 0) throw new Error(`objdump failed on ${binary} (exit ${code}): ${err.trim()} — is binutils installed? apt-get install binutils`);
  return result;
}

/** One line per offending instruction kind, for error messages. */
export function summarize(r: ScanResult): string {
  const byKind = new Map<string, Violation[]>();
  for (const v of r.violations) byKind.set(`${v.mnemonic} (${v.reason})`, [...(byKind.get(`${v.mnemonic} (${v.reason})`) ?? []), v]);
  return [...byKind].map(([k, vs]) => `${r.binary}: ${vs.length}× ${k}, e.g. in ${vs[0].fn} at 0x${vs[0].address}`).join("\n");
}

if (require.main === module) {
  const [profile, ...bins] = process.argv.slice(2);
  if (!bins.length || (profile !== "core2" && profile !== "sse2")) {
    console.error("usage: isa-scan.ts core2|sse2 BINARY...");
    process.exit(2);
  }
  (async () => {
    let bad = 0;
    for (const b of bins) {
      const r = await scanBinary(b, profile);
      console.log(`${b}: ${r.instructions} instructions, ${r.violations.length} the ${profile} CPU lacks${Object.keys(r.allowed).length ? `, allowed: ${JSON.stringify(r.allowed)}` : ""}`);
      if (r.violations.length) { console.log(summarize(r)); bad++; }
    }
    process.exit(bad ? 1 : 0);
  })();
}
