/**
 * The page's files: page.html and client.ts bundled with esbuild (pipecat's client
 * included, so the page works on a LAN with no internet). The compiled agent (dist/, what
 * the nodes run) has the bundle beside this file, made by scripts/build-agent.ts: the nodes
 * have no esbuild. From source it is bundled once per process.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { StaticAsset } from "../transport";

let built: Promise<Record<string, StaticAsset>> | undefined;

export function pageAssets(): Promise<Record<string, StaticAsset>> {
  built ??= build();
  return built;
}

async function build(): Promise<Record<string, StaticAsset>> {
  const prebuilt = path.join(__dirname, "client.js");
  const client = __filename.endsWith(".js") && fs.existsSync(prebuilt) ? fs.readFileSync(prebuilt) : await bundlePageClient();
  const html = fs.readFileSync(path.join(__dirname, "page.html"), "utf8");
  return {
    "/": { contentType: "text/html; charset=utf-8", body: html },
    "/index.html": { contentType: "text/html; charset=utf-8", body: html },
    "/client.js": { contentType: "text/javascript; charset=utf-8", body: client },
  };
}

/** The browser client (web/client.ts with pipecat's client) as one minified script. */
export async function bundlePageClient(): Promise<Buffer> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [path.join(__dirname, "client.ts")],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2020",
    minify: true,
    sourcemap: false,
    logLevel: "silent",
    define: { "process.env.NODE_ENV": '"production"' },
  }).catch((error: Error) => {
    built = undefined;
    throw new Error(`could not bundle the web page's client (agent/src/web/client.ts): ${error.message}`);
  }).finally(() => {
    // The page is bundled once: stop esbuild's service process rather than leave it
    // running for the agent's lifetime (under jest it also kept the runner from exiting).
    void esbuild.stop();
  });
  return Buffer.from(result.outputFiles[0].contents);
}
