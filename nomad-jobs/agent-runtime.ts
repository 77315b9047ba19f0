// How the agent package's programs start on a node under raw_exec — the voice agent, its
// vision detector and the Wyoming speech services all run its compiled JavaScript
// (dist/, scripts/build-agent.ts: no compiler on the nodes, no compile at every start) —
// and the speech settings they read. One home, so a service and the agent can never be
// started with different models or voices.
import { checkCount, checkPath } from "./common";

export interface AgentRuntimeArgs {
  /** The agent package on the nodes (package.json, dist/, node_modules/). */
  agentDir: string;
  /** Node.js on the nodes. */
  nodeBinary: string;
  /** Run the TypeScript sources (src/) under this ts-node register module instead of
   * dist/: for a checkout that was not built (the tests, the lab). */
  tsNodeRegister?: string;
  /** Speech models (the directory with manifest.json) on the node. */
  modelsDir: string;
  /** auto | piper | espeak */
  ttsVoice?: "auto" | "piper" | "espeak";
  /** Threads for speech recognition (default 1: the node keeps its other core for other work). */
  sttThreads?: number;
  /** Which speech recognizer of the models directory (default: the first its manifest lists). */
  sttModel?: string;
}

export interface AgentRuntime {
  /** The command line that runs one of the agent's entry points, named as under src/ without
   * its extension ("main", "wyoming/serve"). */
  run(entry: string, ...args: string[]): { command: string; args: string[] };
  /** ts-node's settings when running the sources (else empty): every task of the agent needs them. */
  tsNodeEnv: Record<string, string>;
  /** The speech settings (the names agent/src/config.ts reads). */
  speechEnv: Record<string, string>;
}

export function agentRuntime(args: AgentRuntimeArgs): AgentRuntime {
  const agentDir = checkPath("agent directory", args.agentDir);
  const node = checkPath("node binary", args.nodeBinary);
  const tsNode = args.tsNodeRegister === undefined ? undefined : checkPath("ts-node register module", args.tsNodeRegister);
  const modelsDir = checkPath("models directory", args.modelsDir);
  const sttThreads = checkCount("STT threads", args.sttThreads ?? 1);
  return {
    // raw_exec starts tasks in their task directory: every path is absolute.
    run: (entry, ...rest) => ({
      command: node,
      args: tsNode ? ["--require", tsNode, `${agentDir}/src/${entry}.ts`, ...rest] : [`${agentDir}/dist/${entry}.js`, ...rest],
    }),
    // ts-node looks for a tsconfig.json from the working directory (the task directory,
    // which has none) and its built-in default fails on the agent's CommonJS sources.
    tsNodeEnv: tsNode ? { TS_NODE_COMPILER_OPTIONS: JSON.stringify({ module: "commonjs", moduleResolution: "node" }) } : {},
    speechEnv: speechEnv({ ...args, modelsDir, sttThreads }),
  };
}

/** The speech settings (the names agent/src/config.ts reads) a speech service or the agent
 * is started with: the jobs' tasks and `npm start`'s local services alike. */
export function speechEnv(args: Pick<AgentRuntimeArgs, "modelsDir" | "ttsVoice" | "sttThreads" | "sttModel">): Record<string, string> {
  return {
    AIDE_MODELS_DIR: checkPath("models directory", args.modelsDir),
    STT_THREADS: String(checkCount("STT threads", args.sttThreads ?? 1)),
    ...(args.sttModel ? { AIDE_STT_MODEL: checkModelName(args.sttModel) } : {}),
    ...(args.ttsVoice ? { AIDE_TTS_VOICE: args.ttsVoice } : {}),
  };
}

/** A model's name in the manifest, as the agent's AIDE_STT_MODEL takes it. */
function checkModelName(name: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`speech recognizer '${name}' is not a model name like moonshine-tiny (letters, digits, '.', '_', '-')`);
  return name;
}
