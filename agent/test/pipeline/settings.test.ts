import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, configHelp, defaultConfig, endpointSettingsFromEnvFile, loadConfig, speechServiceHelp } from "../../src/config";

describe("the agent's settings", () => {
  it("reads VAD tuning and the rest from the environment, with flags winning", () => {
    const config = loadConfig(["--port", "9001", "--vad-min-silence-ms=800", "--benchmark"], {
      AIDE_PORT: "9000", VAD_START_THRESHOLD: "0.6", VAD_STOP_THRESHOLD: "0.4", MIN_INTERRUPTION_MS: "250", LLM_BASE_URL: "http://10.0.0.5:8080",
    });
    expect(config.port).toBe(9001);
    expect(config.vad).toEqual({ ...defaultConfig().vad, startThreshold: 0.6, stopThreshold: 0.4, minSilenceMs: 800 });
    expect(config.minInterruptionMs).toBe(250);
    expect(config.llmUrl).toBe("http://10.0.0.5:8080");
    expect(config.benchmark).toBe(true);
  });

  it("lists every problem at once, each with the setting that fixes it", () => {
    let error: ConfigError | undefined;
    try {
      loadConfig(["--port", "99999", "--colour", "blue", "--output-lead-ms", "500"], { LLM_BASE_URL: "ftp://x", BENCHMARK_MODE: "yes", AIDE_TTS_VOICE: "robot" });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toHaveLength(6);
    const text = error!.message;
    expect(text).toMatch(/LLM_BASE_URL="ftp:\/\/x" must be an http:\/\/ or https:\/\/ URL/);
    expect(text).toMatch(/BENCHMARK_MODE="yes" must be true or false/);
    expect(text).toMatch(/AIDE_TTS_VOICE="robot" must be auto, piper or espeak/);
    expect(text).toMatch(/--port "99999" must be a whole number from 0 to 65535/);
    expect(text).toMatch(/unknown flag "--colour"/);
    expect(text).toMatch(/--output-lead-ms "500" must be a whole number from 20 to 100/);
  });

  it("lets the stop threshold follow a tuned start threshold unless it is set too", () => {
    expect(loadConfig([], { VAD_START_THRESHOLD: "0.3" }).vad).toMatchObject({ startThreshold: 0.3, stopThreshold: 0.21 });
  });

  it("picks the recognizer by name and keeps the audio from before speech was heard (the stack's sttModel and speechPadMs)", () => {
    expect(defaultConfig().sttModel).toBeUndefined();
    expect(defaultConfig().speechPadMs).toBe(300);
    expect(loadConfig(["--vad-speech-pad-ms", "120"], { AIDE_STT_MODEL: "moonshine-tiny" })).toMatchObject({ sttModel: "moonshine-tiny", speechPadMs: 120 });
    expect(() => loadConfig([], { AIDE_STT_MODEL: "../x" })).toThrow(/AIDE_STT_MODEL="..\/x" must be a model name like moonshine-tiny/);
  });

  it("refuses a stop threshold above the start threshold", () => {
    expect(() => loadConfig([], { VAD_START_THRESHOLD: "0.3", VAD_STOP_THRESHOLD: "0.5" })).toThrow(/set VAD_STOP_THRESHOLD at or below VAD_START_THRESHOLD/);
  });

  it("follows the endpoints file Nomad rewrites when the LLM or the embeddings server moves", () => {
    const base = { ...defaultConfig(), embedUrl: "http://192.168.1.103:21000" };
    const moved = endpointSettingsFromEnvFile(
      "LLM_BASE_URL=http://192.168.1.102:23456\nAIDE_LLM_BACKEND=primacpp\nEMBED_URL=http://192.168.1.101:24000\nOTHER=1\n", base);
    expect(moved).toEqual({ llmUrl: "http://192.168.1.102:23456", llmBackend: "primacpp", embedUrl: "http://192.168.1.101:24000" });
    // what did not move is not reported as changed, and base is left alone
    expect(endpointSettingsFromEnvFile(`LLM_BASE_URL=${base.llmUrl}\nEMBED_URL=http://192.168.1.101:24000\n`, base)).toEqual({ embedUrl: "http://192.168.1.101:24000" });
    expect(base.embedUrl).toBe("http://192.168.1.103:21000");
  });

  it("keeps an endpoint whose service is not registered right now (its line is left out)", () => {
    const base = { ...defaultConfig(), embedUrl: "http://192.168.1.103:21000" };
    expect(endpointSettingsFromEnvFile("", base)).toEqual({});
    expect(endpointSettingsFromEnvFile("LLM_BASE_URL=http://192.168.1.102:23456\n", base)).toEqual({ llmUrl: "http://192.168.1.102:23456" });
  });

  it("re-reads only the endpoint settings: anything else in the file is ignored, a bad endpoint is refused by name", () => {
    const base = defaultConfig();
    expect(endpointSettingsFromEnvFile("AIDE_PORT=1\nAIDE_MEMORY_DIR=off\n", base)).toEqual({});
    expect(() => endpointSettingsFromEnvFile("LLM_BASE_URL=not a url", base)).toThrow(/LLM_BASE_URL="not a url" must be a URL/);
    expect(() => endpointSettingsFromEnvFile("EMBED_URL=tcp://192.168.1.101:24000", base)).toThrow(/EMBED_URL="tcp:\/\/192.168.1.101:24000" must be an http:\/\/ or https:\/\/ URL/);
    // The speech services move the same way; a key the file does not hold keeps its value.
    expect(endpointSettingsFromEnvFile("AIDE_STT_URL=tcp://192.168.1.103:10300\n", { ...base, ttsUrl: "tcp://192.168.1.104:10200" })).toEqual({ sttUrl: "tcp://192.168.1.103:10300" });
  });

  it("takes https and pairing from files, refusing half a setup and saying what to add", () => {
    const dir = fs.mkdtempSync(join(tmpdir(), "aide-settings-"));
    try {
      for (const f of ["cert.pem", "key.pem", "ca.pem"]) fs.writeFileSync(join(dir, f), "x");
      fs.writeFileSync(join(dir, "code"), "k7pm-2qxd\n");
      fs.writeFileSync(join(dir, "short"), "1234\n");
      const config = loadConfig(["--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem"), "--http-port", "off"], {
        AIDE_TLS_CA: join(dir, "ca.pem"), AIDE_PAIRING_CODE_FILE: join(dir, "code"),
      });
      expect(config).toMatchObject({ tlsCert: join(dir, "cert.pem"), tlsKey: join(dir, "key.pem"), tlsCa: join(dir, "ca.pem"), httpPort: undefined, pairingCodeFile: join(dir, "code") });
      expect(loadConfig(["--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")], {}).httpPort).toBe(8091);

      let problems: string[] = [];
      try {
        loadConfig(["--tls-cert", join(dir, "cert.pem"), "--tls-ca", join(dir, "missing.pem"), "--pairing-code-file", join(dir, "short")], {});
      } catch (error) {
        problems = (error as ConfigError).problems;
      }
      expect(problems).toEqual([
        `--tls-ca ${JSON.stringify(join(dir, "missing.pem"))} cannot be read (ENOENT): give the path of an existing file this user may read (CA certificate (PEM) offered on the plain-http page, for devices to trust)`,
        "https needs both a certificate and its key: set AIDE_TLS_KEY (--tls-key) too",
        `the pairing code in ${join(dir, "short")} must be 6 to 64 letters and digits: write a new one there`,
      ]);
      expect(configHelp()).toMatch(/--tls-cert .*AIDE_TLS_CERT/);
      expect(loadConfig([], { AIDE_DEMO_MODE: "true" }).demo).toBe(true);
      expect(defaultConfig().demo).toBe(false);
      expect(configHelp()).toMatch(/--pairing-code-file .*AIDE_PAIRING_CODE_FILE/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lists in --help every environment variable the agent's sources read", () => {
    const src = join(__dirname, "../../src");
    const files = (fs.readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts"));
    const read = new Set<string>();
    for (const file of files) {
      const text = fs.readFileSync(join(src, file), "utf8");
      for (const m of text.matchAll(/\benv\.([A-Z][A-Z0-9_]{2,})|\benv\[["']([A-Z][A-Z0-9_]{2,})["']\]|^\s+(AIDE_[A-Z0-9_]+):/gm)) read.add(m[1] ?? m[2] ?? m[3]);
    }
    read.delete("NODE_ENV"); // the page bundle's build-time constant, not a setting
    expect([...read]).toEqual(expect.arrayContaining(["AIDE_CACHE", "AIDE_ESPEAK_DATA", "AIDE_VISION_URL", "AIDE_VISION_MAX_FPS"]));
    const help = `${configHelp()}\n${speechServiceHelp("stt")}\n${speechServiceHelp("tts")}`;
    expect([...read].filter((name) => !new RegExp(`\\b${name}\\b`).test(help))).toEqual([]);
    expect(configHelp()).toMatch(/--endpoints-file +AIDE_ENDPOINTS_FILE /);
    expect(loadConfig(["--endpoints-file", "/tmp/endpoints.env"], {}).endpointsFile).toBe("/tmp/endpoints.env");
  });
});
