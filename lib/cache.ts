// Where Aide keeps what it builds or generates outside the repo (llama.cpp builds,
// generated test models, downloaded models): the agent's rule, $AIDE_CACHE, default ~/.cache/aide.
export { aideCache } from "../agent/src/cache-dir";
