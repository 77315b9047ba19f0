// The legacy builds must not contain a single instruction a Core 2 lacks. qemu's
// core2duo model faults on AVX but runs SSE4.x, so this disassembly scan is the proof
// for SSE4.1/4.2, POPCNT and BMI; legacy-build-runs-on-core2 proves the code runs.
// @slow: disassembles every legacy llama.cpp binary (about 35 s of CPU)
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { llamaPrefix } from "../../lib/llama";
import { classify, scanBinary, summarize } from "../../lib/isa-scan";

const BINARIES = ["llama-server", "ggml-rpc-server", "llama-bench", "llama-cli", "llama-quantize"];

describe("the core2 build of llama.cpp", () => {
  it.each(BINARIES)("%s has no AVX, AVX-512, SSE4.1, SSE4.2, POPCNT or BMI instructions", async (name) => {
    const bin = join(llamaPrefix("core2"), "bin", name);
    expect(existsSync(bin)).toBe(true);
    const r = await scanBinary(bin, "core2");
    expect(r.instructions).toBeGreaterThan(100_000); // it really disassembled the binary
    if (r.violations.length) throw new Error(`core2 build is not legacy:\n${summarize(r)}`);
  });
});

// The sse2 profile (CPUs without SSSE3); `npm test` builds it in its setup step.
describe("the sse2 build of llama.cpp", () => {
  it.each(BINARIES)("%s has no SSSE3 or later instructions", async (name) => {
    const bin = join(llamaPrefix("sse2"), "bin", name);
    expect(existsSync(bin)).toBe(true);
    const r = await scanBinary(bin, "sse2");
    if (r.violations.length) throw new Error(`sse2 build is not legacy:\n${summarize(r)}`);
  });
});

describe("the instruction scan itself", () => {
  it("catches AVX2, SSE4.1, SSE4.2 and POPCNT in a binary compiled for a newer CPU", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aide-isa-"));
    writeFileSync(join(dir, "new.c"), `
      #include <immintrin.h>
      __attribute__((target("avx2"))) int avx2(int *p) { __m256i v = _mm256_loadu_si256((void*)p); return _mm256_extract_epi32(_mm256_add_epi32(v, v), 1); }
      __attribute__((target("sse4.1"))) int sse41(int *p) { __m128i v = _mm_loadu_si128((void*)p); return _mm_extract_epi32(_mm_mullo_epi32(v, v), 2); }
      __attribute__((target("sse4.2,popcnt"))) unsigned sse42(unsigned x, unsigned char c) { return _mm_crc32_u8(x, c) + __builtin_popcount(x); }
      int main(void) { return 0; }`);
    execFileSync("cc", ["-O2", "-o", join(dir, "new"), join(dir, "new.c")]);
    const r = await scanBinary(join(dir, "new"), "core2");
    const reasons = new Set(r.violations.map((v) => v.reason));
    expect([...reasons]).toEqual(expect.arrayContaining(["AVX/AVX-512 register", "SSE4.1", "SSE4.2", "newer than Core 2 (POPCNT/LZCNT/BMI/AES/...)"]));
    expect(r.violations.map((v) => v.fn)).toEqual(expect.arrayContaining(["avx2", "sse41", "sse42"]));
  });

  it("tells SSE2's pextrw to a register from SSE4.1's pextrw to memory", () => {
    expect(classify("pextrw", "$0x1,%xmm0,%eax", "core2")).toBeUndefined();
    expect(classify("pextrw", "$0x1,%xmm0,0x10(%rsp)", "core2")).toBe("SSE4.1 (pextrw to memory)");
    expect(classify("pshufb", "%xmm1,%xmm0", "core2")).toBeUndefined();
    expect(classify("pshufb", "%xmm1,%xmm0", "sse2")).toBe("SSSE3");
  });
});
