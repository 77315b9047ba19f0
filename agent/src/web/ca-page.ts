/**
 * The only page served over plain http when the agent speaks https: the household's CA
 * certificate, how to make each kind of device trust it, and the link to the https page.
 * A phone that has never seen Aide starts here; one that trusts the CA goes straight on.
 */
import type { StaticAsset } from "../transport";

/** The certificate's file name on the page (.crt: what Android and Windows open as a certificate). */
export const CA_FILE = "aide-ca.crt";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The plain-http port's pages, for a device that reached it as `httpsUrl`'s host. */
export function caPageAssets(caCertPem: string, httpsUrl: string): Record<string, StaticAsset> {
  const link = escapeHtml(httpsUrl);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Aide — trust this house's certificate</title>
<style>
  body { font: 16px/1.45 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #1d2330; }
  h1 { font-size: 1.4rem; } h2 { font-size: 1.05rem; margin: 1.2rem 0 .3rem; }
  .go { display: inline-block; padding: .6rem 1.4rem; border-radius: 2rem; background: #2c6e49; color: white; text-decoration: none; }
  code { background: #f0f2f5; padding: 0 .25rem; border-radius: .25rem; }
  li { margin: .2rem 0; }
</style>
</head>
<body>
<h1>Aide speaks only over https</h1>
<p id="why">Browsers give a page the microphone only over https. Aide's https page uses a certificate
made by this house's own certificate authority, so each device must trust that authority once.</p>
<p><a class="go" id="ca" href="/${CA_FILE}" download>1. Download the certificate</a></p>
<p><a class="go" id="https" href="${link}">2. Open Aide: ${link}</a></p>
<h2>Android</h2>
<ol><li>Download the certificate above.</li><li>Settings → Security → Encryption &amp; credentials → Install a certificate → CA certificate → pick <code>${CA_FILE}</code>.</li></ol>
<h2>iPhone / iPad</h2>
<ol><li>Open this page in Safari and download the certificate; allow the profile.</li><li>Settings → Profile Downloaded → Install.</li><li>Settings → General → About → Certificate Trust Settings → turn on Aide.</li></ol>
<h2>Windows</h2>
<ol><li>Open the downloaded <code>${CA_FILE}</code> → Install Certificate → Current User → "Place all certificates in the following store" → Trusted Root Certification Authorities.</li><li>Restart the browser. (Firefox: Settings → Certificates → View Certificates → Authorities → Import.)</li></ol>
<h2>macOS</h2>
<ol><li>Open the downloaded <code>${CA_FILE}</code>: Keychain Access adds it to "login".</li><li>Double-click it → Trust → "When using this certificate: Always Trust".</li></ol>
<h2>Linux</h2>
<ol><li>Chromium/Chrome: Settings → Privacy and security → Security → Manage certificates → Authorities → Import, tick "Trust this certificate for identifying websites".</li>
<li>Firefox: Settings → Certificates → View Certificates → Authorities → Import.</li>
<li>System-wide (Debian): <code>sudo cp ${CA_FILE} /usr/local/share/ca-certificates/ &amp;&amp; sudo update-ca-certificates</code>.</li></ol>
</body>
</html>
`;
  return {
    "/": { contentType: "text/html; charset=utf-8", body: html },
    [`/${CA_FILE}`]: {
      contentType: "application/x-x509-ca-cert",
      body: caCertPem,
      headers: { "content-disposition": `attachment; filename="${CA_FILE}"` },
    },
  };
}
