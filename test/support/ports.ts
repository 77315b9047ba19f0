export { freePort, canConnect } from "../../lib/llama";
