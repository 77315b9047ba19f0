// A valid stack for tests: n nodes, the first three Nomad servers, every checksum set.
import { RawConfig } from "../../infra/config";

export const SHA = "a".repeat(64);
export const GOSSIP = Buffer.alloc(32, 7).toString("base64");

/** Stack values as Pulumi hands them to a program: structured ones JSON-encoded. */
export function raw(values: Record<string, unknown>): RawConfig {
  return (key) => {
    const v = values[key];
    if (v === undefined) return undefined;
    return typeof v === "string" ? v : JSON.stringify(v);
  };
}

export function nodes(count: number, servers = 3) {
  return Array.from({ length: count }, (_, i) => ({
    name: `aide-${String(i + 1).padStart(2, "0")}`,
    address: `192.168.1.${101 + i}`,
    ...(i < servers ? { roles: ["server"] } : {}),
  }));
}

export function validStack(count = 3, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    nodes: nodes(count),
    backend: "llamacpp-rpc",
    model: { name: "tiny.gguf", url: "http://models.lan/tiny.gguf", sha256: SHA },
    nomad: { version: "1.9.7", sha256: SHA },
    nodejs: { version: "20.20.2", sha256: SHA },
    ...extra,
  };
}

