export { freePort, canConnect } from "../../scripts/lib/llama";
