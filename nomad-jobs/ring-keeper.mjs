// The prima.cpp ring's keeper: a sidecar of rank 0 that restarts the whole ring when it
// stops answering. It exists because of what a real ring does when a rank dies
// (shared/prima/FLAGS.md, "When a rank dies"): rank 0 stalls with no error while /health
// keeps answering 200, and only restarting every rank together recovers — restarting the
// dead worker alone, or rank 0 alone, does not. Nomad restarts tasks one by one, so this
// does it through Nomad's own API: it stops every rank, and Nomad starts them all again.
//
// "The ring answers" means: /slots answers and a slot is busy (a completion is moving;
// our probe would only queue behind it), or a 1-token completion comes back — each within
// the probe's bound. Shipped inside the job as a template: no double opening brace may appear here (Nomad would read a template action).
// Settings (environment): AIDE_LLM_URL, AIDE_NOMAD_ADDR, AIDE_JOB_ID, AIDE_RING_WORLD,
// AIDE_PROBE_INTERVAL_S, AIDE_PROBE_TIMEOUT_S, AIDE_PROBE_FAILURES, AIDE_LOAD_DEADLINE_S.

const env = process.env;
const need = (name) => {
  const v = env[name];
  if (!v) {
    console.error(`ring-keeper: ${name} is not set — the primacpp job sets it`);
    process.exit(2);
  }
  return v;
};
const llm = need("AIDE_LLM_URL").replace(/\/$/, "");
const nomad = need("AIDE_NOMAD_ADDR").replace(/\/$/, "");
const job = need("AIDE_JOB_ID");
const world = Number(need("AIDE_RING_WORLD"));
// The defaults and their reasons are in nomad-jobs/primacpp.ts (DEFAULT_RING_CHECK).
const intervalMs = Number(need("AIDE_PROBE_INTERVAL_S")) * 1000;
const timeoutMs = Number(need("AIDE_PROBE_TIMEOUT_S")) * 1000;
const failureLimit = Number(need("AIDE_PROBE_FAILURES"));
const loadDeadlineMs = Number(need("AIDE_LOAD_DEADLINE_S")) * 1000;

const log = (line) => console.log(`ring-keeper: ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const taskOf = (rank) => (rank === 0 ? "llama-server" : "llama-cli");

async function call(method, url, body, bound = timeoutMs) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(bound),
  });
  const text = await res.text();
  return { status: res.status, text };
}

/** true: answers; "loading": rank 0 says it is loading (503); false: no answer in bound. */
async function ringAnswers() {
  try {
    const slots = await call("GET", `${llm}/slots`);
    if (slots.status === 503) return "loading";
    if (slots.status === 200 && JSON.parse(slots.text).some((s) => s.is_processing)) return true;
    const probe = await call("POST", `${llm}/completion`, { prompt: "ok", n_predict: 1, cache_prompt: true });
    if (probe.status === 503) return "loading";
    return probe.status === 200;
  } catch {
    return false;
  }
}

/** rank → its running allocation and how often its task has restarted. */
async function ranks() {
  const res = await call("GET", `${nomad}/v1/job/${encodeURIComponent(job)}/allocations`);
  if (res.status !== 200) throw new Error(`Nomad answered ${res.status} for the job's allocations`);
  const out = new Map();
  for (const a of JSON.parse(res.text)) {
    const m = /^rank-(\d+)$/.exec(a.TaskGroup ?? "");
    if (!m || a.ClientStatus !== "running" || a.DesiredStatus !== "run") continue;
    const rank = Number(m[1]);
    const state = a.TaskStates?.[taskOf(rank)];
    if (!state || state.State !== "running") continue;
    out.set(rank, { id: a.ID, signature: `${a.ID}/${state.Restarts ?? 0}` });
  }
  return out;
}

/**
 * Stops every running rank at once — SIGKILL through Nomad's signal API, the workers from
 * the last, rank 0 last of all — and lets the job's restart policy start each again after
 * its delay. So no new rank ever meets an old one: a rank that joins a ring whose other
 * members still run gets their stale messages (a real worker then aborts on
 * GGML_ASSERT "should_profile", FLAGS.md). SIGKILL, because rank 0 ignores SIGTERM once a
 * peer is gone. Resolves to the ranks once each has been started again.
 */
async function restartRing(why) {
  log(`restarting the whole ring (${why}): stopping ranks ${world - 1}..1, then rank 0; Nomad starts them again`);
  const now = await ranks();
  const stopped = [];
  for (let rank = world - 1; rank >= 0; rank--) {
    const alloc = now.get(rank);
    if (!alloc) {
      log(`rank ${rank} has no running allocation (its node is gone?): the ring restarts again when Nomad places it`);
      continue;
    }
    const res = await call("POST", `${nomad}/v1/client/allocation/${alloc.id}/signal`, { Signal: "SIGKILL", Task: taskOf(rank) });
    log(`rank ${rank}: ${res.status === 200 ? "stopped" : `not stopped (${res.status}: ${res.text.slice(0, 200)})`}`);
    if (res.status === 200) stopped.push(rank);
  }
  // Baseline only once Nomad has started each again, or its own restart would look like a
  // rank that came back alone.
  for (const started = Date.now(); Date.now() - started < 120_000; await sleep(500)) {
    const after = await ranks().catch(() => undefined);
    if (after && stopped.every((rank) => after.get(rank) && after.get(rank).signature !== now.get(rank).signature)) {
      log("every rank started again");
      return after;
    }
  }
  return ranks();
}

async function main() {
  log(`watching a ring of ${world} at ${llm}: probe every ${intervalMs / 1000} s, bound ${timeoutMs / 1000} s, restart after ${failureLimit} failures`);
  // The ranks start together at deployment: wait for all of them before watching for one that comes back alone.
  let baseline = new Map();
  for (const started = Date.now(); baseline.size < world && Date.now() - started < loadDeadlineMs; await sleep(1000)) {
    baseline = await ranks().catch(() => new Map());
  }
  let failures = 0;
  let loadingSince = Date.now();
  for (;;) {
    await sleep(intervalMs);
    const state = await ringAnswers();
    const now = await ranks().catch(() => undefined);
    if (state === true) {
      if (failures || loadingSince) log("the ring answers");
      failures = 0;
      loadingSince = undefined;
      if (now) baseline = now;
      continue;
    }
    // A rank that (re)started on its own cannot join a ring that has lost it: restart all now.
    const back = now ? [...now].filter(([rank, a]) => baseline.get(rank)?.signature !== a.signature).map(([rank]) => rank) : [];
    let why;
    if (back.length && now.size === world) why = `rank ${back.join(", ")} came back alone`;
    else if (state === "loading") {
      loadingSince ??= Date.now();
      if (Date.now() - loadingSince >= loadDeadlineMs) why = `rank 0 still loading after ${loadDeadlineMs / 1000} s`;
    } else {
      failures++;
      log(`the ring did not answer within ${timeoutMs / 1000} s (${failures}/${failureLimit})`);
      if (failures >= failureLimit) why = `no answer in ${failures} probes`;
    }
    if (!why) continue;
    try {
      baseline = await restartRing(why);
    } catch (error) {
      log(`restart failed: ${error.message} — trying again in ${intervalMs / 1000} s`);
      continue;
    }
    failures = 0;
    loadingSince = Date.now();
  }
}

process.on("SIGTERM", () => process.exit(0));
main().catch((error) => {
  console.error(`ring-keeper: ${error.stack ?? error}`);
  process.exit(1);
});
