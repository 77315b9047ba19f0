// Keeps the detector within a share of one core, by measurement: the CPU time this
// process and its ffmpeg decoders actually used (process.cpuUsage, /proc/<pid>/stat),
// not a guess of what a frame costs. On a Core 2 the same model can cost 10x what it
// costs on a newer CPU, and decoding adds a share that depends on the camera.
import { readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ; 100 on every Linux architecture Aide runs on.

/** utime+stime (and the reaped children's cutime+cstime with `withReaped`) of a pid, in seconds. */
export function procCpuSeconds(pid: number | "self", withReaped = false): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0; // exited between listing and reading: its time moves to our cutime
  }
  // The command name (field 2) may contain spaces; fields after ") " are fixed.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const [utime, stime, cutime, cstime] = [fields[11], fields[12], fields[13], fields[14]].map(Number);
  return (utime + stime + (withReaped ? cutime + cstime : 0)) / TICKS_PER_SECOND;
}

/** CPU seconds used so far by this process, its finished children and the live workers given. */
export function cpuSecondsUsed(workerPids: readonly number[]): number {
  const own = process.cpuUsage();
  // Only the reaped-children part from /proc/self: our own time is more precise from cpuUsage.
  const reaped = procCpuSeconds("self", true) - procCpuSeconds("self");
  return (own.user + own.system) / 1e6 + reaped + workerPids.reduce((sum, pid) => sum + procCpuSeconds(pid), 0);
}

export interface PacerOptions {
  /** Most of one core the detector may use, 0..1 (and above 1 for several cores). */
  cpuShare: number;
  /** Never faster than this, even when the budget allows. */
  maxFps: number;
  /** Never slower than one frame per this many seconds, so the scene is not forgotten. */
  maxIntervalSeconds: number;
}

/**
 * Decides how long to wait before the next frame. Each frame's period (from one frame
 * start to the next) used `cpu` seconds; to average `cpuShare`, the period must last
 * cpu / cpuShare. Costs that run while we wait (a live camera's decoding) grow with the
 * period; the estimate converges to the period that pays for them too, as long as they
 * alone stay under the budget.
 */
export class FramePacer {
  private lastStart: number | null = null;
  private lastCpu = 0;
  private costEstimate: number | null = null;
  private interval: number;
  private readonly window: Array<{ at: number; cpu: number }> = [];

  constructor(private readonly options: PacerOptions, private readonly readCpu: () => number, private readonly now = () => performance.now() / 1000) {
    if (!(options.cpuShare > 0)) throw new Error(`vision CPU share ${options.cpuShare} must be above 0 (0.5 = half of one core)`);
    if (!(options.maxFps > 0)) throw new Error(`vision max fps ${options.maxFps} must be above 0`);
    this.interval = 1 / options.maxFps;
  }

  /** Call as a frame's work begins. */
  frameStarted(): void {
    const at = this.now();
    const cpu = this.readCpu();
    if (this.lastStart !== null) {
      const used = cpu - this.lastCpu;
      // An average over a few periods: one slow frame (a GC, a warm-up) does not stall the loop.
      this.costEstimate = this.costEstimate === null ? used : 0.6 * this.costEstimate + 0.4 * used;
      const wanted = this.costEstimate / this.options.cpuShare;
      this.interval = Math.min(this.options.maxIntervalSeconds, Math.max(1 / this.options.maxFps, wanted));
    }
    this.lastStart = at;
    this.lastCpu = cpu;
    this.window.push({ at, cpu });
    while (this.window.length > 2 && at - this.window[0].at > 10) this.window.shift();
  }

  /** Seconds to wait now that the frame's work is done. */
  delayAfterFrame(): number {
    if (this.lastStart === null) return 0;
    return Math.max(0, this.lastStart + this.interval - this.now());
  }

  /** What the last ~10 s actually achieved. */
  stats(): { fps: number; cpuShare: number; intervalSeconds: number } {
    const first = this.window[0];
    const last = this.window[this.window.length - 1];
    const span = last && first ? last.at - first.at : 0;
    return {
      fps: span > 0 ? (this.window.length - 1) / span : 0,
      cpuShare: span > 0 ? (last.cpu - first.cpu) / span : 0,
      intervalSeconds: this.interval,
    };
  }
}
