export { pageAssets } from "./assets";
