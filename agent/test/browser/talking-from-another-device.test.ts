/**
 * A phone in the house, as close as this machine gets to one: Chromium on one
 * network-namespace host opens `https://<agent host>` on another, where `npm start --
 * --https` runs (tiny generated models, real VAD/STT/espeak). The household CA is trusted
 * the way a test browser can (--ignore-certificate-errors-spki-list with the CA key's hash);
 * the page is a secure context, so the microphone works and a spoken turn is answered —
 * but only once the page has the pairing code. Plain http from that host shows what a
 * device needs instead, and 19 wrong codes in a minute shut the door on the 20th.
 *
 * @needs chromium, netns
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Browser, Page } from "playwright-core";
import { launchChromium } from "./chromium";
import { createNetnsHosts, NetnsLab } from "../../../test/support/netns";
import { spkiSha256 } from "../../../lib/certificates";
import { pageAssets } from "../../src/web";
import { WRONG_CODES_PER_MINUTE } from "../../src/transport";
import { makeSpeech, testOutputDir, writeWav } from "../vad/espeak-speech";

const ROOT = path.resolve(__dirname, "../../..");
const status = (page: Page) => page.textContent("#status");

describe("talking to Aide from another device in the house", () => {
  let lab: NetnsLab;
  let agentHost: string;
  let started: ChildProcess | undefined;
  let output = "";
  let browser: Browser | undefined;
  let plainPage: ChildProcess | undefined;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "aide-device-"));
  const out = testOutputDir("browser");
  const codeFile = path.join(work, "pairing-code");
  const code = "hh7k-m3qa";

  beforeAll(async () => {
    lab = await createNetnsHosts(3, { prefix: "aidetls" });
    const [agent, phone] = lab.hosts;
    agentHost = agent.address;
    fs.writeFileSync(codeFile, `${code}\n`, { mode: 0o600 });
    const models = fs.mkdtempSync(path.join(work, "no-models-"));
    started = spawn("ip", ["netns", "exec", agent.ns, process.execPath, require.resolve("ts-node/dist/bin.js"), "--transpile-only", "scripts/start-local.ts",
      "--https", "--host", agentHost, "--port", "443", "--http-port", "80", "--pairing-code-file", codeFile, "--max-sessions", "2",
      // A short answer, so the turn ends (speaking → listening) before the fake mic's file loops.
      "--llm-max-tokens", "6"], {
      cwd: ROOT,
      env: { ...process.env, AIDE_MODELS_DIR: models, AIDE_MEMORY_DIR: "off", AIDE_TLS_DIR: path.join(work, "tls"), LLAMA_THREADS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    started.stdout!.on("data", (d) => { output += d.toString(); });
    started.stderr!.on("data", (d) => { output += d.toString(); });
    const deadline = Date.now() + 150_000;
    while (!output.includes("Aide is running")) {
      if (started.exitCode !== null || Date.now() > deadline) throw new Error(`npm start -- --https did not come up in the namespace:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    // The same page served over plain http, as an agent without a certificate would serve it.
    const assets = await pageAssets();
    const plainDir = path.join(work, "plain");
    fs.mkdirSync(plainDir);
    fs.writeFileSync(path.join(plainDir, "index.html"), assets["/"].body);
    fs.writeFileSync(path.join(plainDir, "client.js"), assets["/client.js"].body);
    plainPage = spawn("ip", ["netns", "exec", agent.ns, "python3", "-m", "http.server", "8095", "--bind", agentHost, "--directory", plainDir], { stdio: "ignore", detached: true });

    const question = makeSpeech("Hello Aide, what can you see?", 1000, 6000);
    const wav = path.join(out, "device-question.wav");
    writeWav(wav, question.pcm, 16000);
    const chromiumInPhone = path.join(work, "chromium-in-phone");
    fs.writeFileSync(chromiumInPhone, `#!/bin/sh\nexec ip netns exec '${phone.ns}' /usr/bin/chromium "$@"\n`, { mode: 0o755 });
    const ca = fs.readFileSync(path.join(work, "tls", "ca.pem"), "utf8");
    browser = await launchChromium(wav, { executablePath: chromiumInPhone, args: [`--ignore-certificate-errors-spki-list=${spkiSha256(ca)}`] });
  }, 200_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    for (const child of [started, plainPage]) {
      try { process.kill(-child!.pid!, "SIGKILL"); } catch { /* gone */ }
    }
    await lab?.teardown();
    fs.rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it("prints the pairing code and a QR code of the https page with it", () => {
    expect(output).toContain(`From a phone or another computer: https://${agentHost}:443/  pairing code: ${code}`);
    expect(output).toContain(`open http://${agentHost}:80/ to install this machine's certificate`);
    // qrencode's ANSIUTF8 blocks: a square of rows as wide as each other.
    const qrRows = output.split("\n").filter((l) => /[\u2580\u2584\u2588]/.test(l));
    expect(qrRows.length).toBeGreaterThan(10);
    const expected = execFileSync("qrencode", ["-t", "ANSIUTF8", "-m", "2", `https://${agentHost}:443/#code=${code}`], { encoding: "utf8" });
    expect(output).toContain(expected);
  });

  it("asks for the code, refuses a wrong one, then over https hears the question and answers it out loud", async () => {
    const page = await browser!.newPage();
    const lines: string[] = [];
    page.on("console", (m) => lines.push(`${m.type()}: ${m.text()}`));
    try {
      await page.goto(`https://${agentHost}/`);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
      await page.click("#talk");
      await page.waitForSelector("#pairing:not([hidden])", { timeout: 10_000 });
      expect(await page.getAttribute("body", "data-pairing")).toBe("required");
      expect(await page.textContent("#pairing-why")).toMatch(/needs its pairing code/);
      await page.screenshot({ path: path.join(out, "state-pairing.png"), fullPage: true });

      await page.fill("#pairing-code", "wrong-code");
      await page.click("#pairing button[type=submit]");
      await page.waitForFunction(() => document.body.dataset.pairing === "wrong", undefined, { timeout: 10_000 });
      expect(await page.textContent("#pairing-why")).toMatch(/wrong pairing code/);

      await page.fill("#pairing-code", code.toUpperCase());
      await page.click("#pairing button[type=submit]");
      await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Listening"), undefined, { timeout: 20_000 });
      expect(await page.isHidden("#pairing")).toBe(true);
      await page.waitForSelector("#transcript p.user", { timeout: 30_000 });
      await page.waitForFunction(() => (window as unknown as { aide: { events: Array<[number, string]> } }).aide.events.some((e) => e[1] === "bot-started-speaking"), undefined, { timeout: 60_000 });
      await page.waitForSelector("#transcript p.bot", { timeout: 10_000 });
      // The whole turn, as the page showed it, then back to listening; and it says it is a demo.
      await page.waitForFunction(() => document.body.dataset.state === "listening" &&
        (window as unknown as { aide: { events: Array<[number, string]> } }).aide.events.some((e) => e[1] === "bot-stopped-speaking"), undefined, { timeout: 30_000 });
      const states = await page.evaluate(() => (window as unknown as { aide: { events: Array<[number, string]> } }).aide.events
        .filter((e) => e[1].startsWith("state:")).map((e) => e[1].slice(6)));
      // (two refused tries came first: "connecting" each, then the pairing form)
      expect(states).toEqual(["connecting", "connecting", "connecting", "listening", "hearing", "thinking", "speaking", "listening"]);
      expect(await page.isVisible("#demo")).toBe(true);
      await page.screenshot({ path: path.join(out, "device-conversation.png"), fullPage: true });

      // The browser remembers the code: a new visit connects without asking.
      await page.click("#talk"); // Stop
      await page.reload();
      await page.click("#talk");
      await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Listening"), undefined, { timeout: 20_000 });
      expect(await page.isHidden("#pairing")).toBe(true);
    } catch (error) {
      await page.screenshot({ path: path.join(out, "device-failure.png"), fullPage: true }).catch(() => {});
      throw new Error(`${(error as Error).message}\n--- page console ---\n${lines.slice(-30).join("\n")}\n--- npm start ---\n${output.slice(-3000)}`);
    } finally {
      await page.close();
    }
  }, 150_000);

  it("offers the CA certificate and the link over plain http", async () => {
    const page = await browser!.newPage();
    try {
      await page.goto(`http://${agentHost}/`);
      expect(await page.getAttribute("#https", "href")).toBe(`https://${agentHost}:443/`);
      expect(await page.getAttribute("#ca", "href")).toBe("/aide-ca.crt");
      await page.screenshot({ path: path.join(out, "state-certificate-page.png"), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it("says at once, on a page that came over plain http, why the microphone cannot work", async () => {
    const page = await browser!.newPage();
    try {
      await page.goto(`http://${agentHost}:8095/`);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
      expect(await status(page)).toBe("The microphone cannot work on this page: it came over plain http.");
      expect(await page.isVisible("#insecure")).toBe(true);
      expect(await page.textContent("#insecure")).toContain("npm start -- --https");
      expect(await page.isDisabled("#talk")).toBe(true);
      await page.screenshot({ path: path.join(out, "state-plain-http.png"), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it(`refuses the ${WRONG_CODES_PER_MINUTE}th code in a minute from the device without checking it, even the right one`, async () => {
    const laptop = lab.hosts[2]; // a device that has not tried any code yet
    const ca = path.join(work, "tls", "ca.pem");
    const ask = async (given: string) => (await lab.exec(laptop, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca,
      "-H", `x-aide-pairing-code: ${given}`, `https://${agentHost}/pairing`])).stdout;
    for (let i = 1; i < WRONG_CODES_PER_MINUTE; i++) expect(await ask(`guess${i}zz`)).toBe("401");
    expect(await ask(code)).toBe("429");
    expect(await ask(code)).toBe("429");
    // Nothing private for a device without the code.
    const health = JSON.parse((await lab.exec(laptop, ["curl", "-s", "--cacert", ca, `https://${agentHost}/health`])).stdout);
    expect(health).toEqual({ status: "ok" });
  }, 60_000);
});
