/**
 * With a certificate the agent's port is https/wss, and a plain-http port serves only the
 * CA certificate with install instructions and the link to the https page.
 */
import * as http from "node:http";
import * as https from "node:https";
import { AgentServer, ScriptedClient, startAgentServer } from "../../src/transport";
import { caPageAssets, pageAssets } from "../../src/web";
import { issueServerCertificate, makeCertificateAuthority } from "../../../lib/certificates";
import { ToneBot } from "./tone-bot";

function get(url: string, options: { ca?: string; host?: string } = {}): Promise<{ status: number; body: string; type?: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith("https:") ? https.get : http.get)(url, { ca: options.ca, headers: options.host ? { host: options.host } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), type: res.headers["content-type"] }));
    });
    req.on("error", reject);
  });
}

describe("the agent over https", () => {
  const ca = makeCertificateAuthority("Aide test CA");
  const server = issueServerCertificate(ca, { hostnames: ["localhost"], addresses: ["127.0.0.1"] });
  let agent: AgentServer;

  beforeAll(async () => {
    agent = await startAgentServer({
      stages: ({ input, output }) => [input, new ToneBot(1000, 2), output],
      assets: await pageAssets(),
      tls: server,
      plainHttp: { port: 0, assets: (httpsUrl) => caPageAssets(ca.cert, httpsUrl) },
    });
  }, 60_000);
  afterAll(async () => { await agent?.close(); });

  it("serves the page and a conversation over https/wss to a client that trusts the household's CA", async () => {
    expect(agent.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(agent.url, { ca: ca.cert });
    expect(page.body).toContain('<button id="talk">');
    const client = await ScriptedClient.connect(agent.wsUrl, 5000, { ca: ca.cert });
    try {
      await client.ready();
    } finally {
      client.terminate();
    }
  });

  it("is refused by a client that does not trust the CA (the certificate proves something)", async () => {
    await expect(get(agent.url)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
  });

  it("offers only the CA certificate and its instructions over plain http, linking to the https page", async () => {
    const plain = agent.plainUrl!;
    const page = await get(plain);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`href="${agent.url}"`);
    for (const system of ["Android", "iPhone", "Windows", "macOS", "Linux"]) expect(page.body).toContain(`<h2>${system}`);
    const cert = await get(`${plain}aide-ca.crt`);
    expect(cert.body).toBe(ca.cert);
    expect(cert.type).toBe("application/x-x509-ca-cert");
    for (const path of ["client.js", "health", "pairing", "index.html"]) expect((await get(`${plain}${path}`)).status).toBe(404);
  });

  it("links to the name the device used, and not to whatever a forged Host header says", async () => {
    const port = new URL(agent.url).port;
    expect((await get(agent.plainUrl!, { host: "aide-01:80" })).body).toContain(`href="https://aide-01:${port}/"`);
    const forged = await get(agent.plainUrl!, { host: '"><script>alert(1)</script>' });
    expect(forged.body).not.toContain("<script>alert");
    expect(forged.body).toContain(`href="https://127.0.0.1:${port}/"`);
  });
});
