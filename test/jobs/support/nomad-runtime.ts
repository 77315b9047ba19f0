// The Nomad-client stand-in lives with the library code (the cluster lab runs the jobs'
// tasks through it too); the job tests keep importing it from here.
export * from "../../../lib/nomad-runtime";
