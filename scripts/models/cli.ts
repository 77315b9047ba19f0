// npm run models -- <command> [options]
//
//   download [--dir DIR] [--only stt,tts,vad,llm,yolo,embedding] [--catalog FILE]
//            fetch what is missing (resumable, sha256-checked) and write DIR/manifest.json
//   verify   [--dir DIR]   hash every file the manifest lists; exit 1 naming any damage
//   list     [--dir DIR]   what is where
//
// DIR defaults to $AIDE_MODELS_DIR, else $AIDE_CACHE/models (~/.cache/aide/models).
// --catalog FILE: a JSON list shaped like scripts/models/catalog.ts (a mirror, or tests).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defaultModelDir, MODEL_ROLES, ModelRole, readManifest } from "../../agent/src/models/manifest";
import { CATALOG, CatalogModel } from "./catalog";
import { downloadModels, verifyModels } from "./download";

const USAGE = "usage: npm run models -- download|verify|list [--dir DIR] [--only stt,tts,...] [--catalog FILE]";

function parseArgs(argv: string[]): { command: string; dir: string; only?: ModelRole[]; catalog: CatalogModel[] } {
  const [command, ...rest] = argv;
  let dir = defaultModelDir();
  let only: ModelRole[] | undefined;
  let catalog = CATALOG;
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    if (value === undefined || value.startsWith("--")) throw new Error(`${flag} needs a value\n${USAGE}`);
    i++;
    if (flag === "--dir") dir = resolve(value);
    else if (flag === "--only") {
      only = value.split(",").map((r) => r.trim()) as ModelRole[];
      const bad = only.filter((r) => !MODEL_ROLES.includes(r));
      if (bad.length) throw new Error(`--only: unknown role ${bad.join(", ")} (choose from ${MODEL_ROLES.join(", ")})`);
    } else if (flag === "--catalog") catalog = JSON.parse(readFileSync(value, "utf8")) as CatalogModel[];
    else throw new Error(`unknown option ${flag}\n${USAGE}`);
  }
  if (!["download", "verify", "list"].includes(command)) throw new Error(USAGE);
  return { command, dir, only, catalog };
}

async function main(argv: string[]): Promise<number> {
  const { command, dir, only, catalog } = parseArgs(argv);
  if (command === "download") {
    const r = await downloadModels(catalog, { dir, only });
    if (r.fetched.length === 0) console.log(`all ${r.present.length} model(s) already present in ${dir}; nothing to do`);
    else console.log(`fetched ${r.fetched.length} file(s) into ${dir}; manifest: ${resolve(dir, "manifest.json")}`);
    return 0;
  }
  if (command === "verify") {
    const r = await verifyModels(dir);
    for (const ok of r.ok) console.log(`ok       ${ok}`);
    for (const p of r.problems) console.error(`PROBLEM  ${p}`);
    return r.problems.length ? 1 : 0;
  }
  for (const m of readManifest(dir).models) {
    const size = Object.values(m.files).reduce((n, f) => n + f.bytes, 0);
    console.log(`${m.role.padEnd(10)} ${m.name.padEnd(32)} ${m.format.padEnd(17)} ${(size / 1048576).toFixed(1).padStart(8)} MB  ${Object.values(m.files).map((f) => f.path).join(", ")}`);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`models: ${e.message}`);
      process.exit(1);
    },
  );
}
