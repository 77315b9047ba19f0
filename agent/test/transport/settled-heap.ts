import * as v8 from "node:v8";
import * as vm from "node:vm";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/** Heap in use after timers have fired and a few full collections have run. */
export async function settledHeap(pauseMs = 20): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    gc();
  }
  return process.memoryUsage().heapUsed;
}
