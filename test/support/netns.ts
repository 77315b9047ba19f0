// Test hosts on this machine: the network-namespace hosts live in lib/netns.ts
// (the benchmarks' emulated cluster uses them too); tests import them from here.
export * from "../../lib/netns";
