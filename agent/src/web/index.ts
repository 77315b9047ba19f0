export { pageAssets } from "./assets";
export { caPageAssets, CA_FILE } from "./ca-page";
