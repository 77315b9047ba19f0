// How many conversations the agent holds at once: the server enforces these, the settings
// (agent/src/config.ts) and `--help` show them. One home, so the two cannot drift apart.

/** Simultaneous conversations: a household's few devices, with room for a reload or two. */
export const DEFAULT_MAX_SESSIONS = 8;

/** Conversations one address may hold: half the slots, rounded up, so one client cannot take them all. */
export function defaultSessionsPerAddress(maxSessions: number): number {
  return Math.ceil(maxSessions / 2);
}
