// Where a Wyoming service is: tcp://host:port, as AIDE_STT_URL / AIDE_TTS_URL and Home
// Assistant's integration (host and port) name it.
export interface WyomingAddress {
  host: string;
  port: number;
}

/** tcp://host:port (IPv6 hosts in brackets) → its parts; throws a message that says what to write. */
export function parseTcpUrl(url: string): WyomingAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`"${url}" is not a URL — write tcp://host:port, e.g. tcp://192.168.1.102:10300`);
  }
  if (parsed.protocol !== "tcp:") throw new Error(`"${url}" must start with tcp:// (Wyoming speaks plain TCP), e.g. tcp://192.168.1.102:10300`);
  const port = Number(parsed.port);
  if (!parsed.hostname || !parsed.port || !(port >= 1 && port <= 65535)) throw new Error(`"${url}" needs a host and a port, e.g. tcp://192.168.1.102:10300`);
  if ((parsed.pathname && parsed.pathname !== "/") || parsed.search || parsed.hash || parsed.username) {
    throw new Error(`"${url}" must be only tcp://host:port (no path, query or user)`);
  }
  return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port };
}
