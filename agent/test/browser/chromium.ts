import { Browser, chromium } from "playwright-core";

/**
 * Debian's Chromium, headless, with a fake microphone playing `wav` in a loop and
 * autoplay allowed (the tests still click the real Talk button). playwright gives every
 * launch a fresh temporary profile (it refuses --user-data-dir). `executablePath`: e.g. a
 * wrapper that runs Chromium inside a network-namespace host.
 */
export function launchChromium(wav: string, options: { executablePath?: string; args?: string[] } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: options.executablePath ?? "/usr/bin/chromium",
    timeout: 30_000,
    args: [
      "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}`, "--autoplay-policy=no-user-gesture-required",
      ...(options.args ?? []),
    ],
  });
}
