// Validates JSON against Nomad's own OpenAPI description (shared/nomad/openapi.yaml,
// beside the repo), strictly: the description does not forbid unknown fields, so every
// object schema with properties gets `additionalProperties: false` while loading — a
// misspelt or invented field fails instead of being silently ignored by Nomad.
import Ajv, { ValidateFunction } from "ajv";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export const OPENAPI_PATH = join(__dirname, "..", "..", "..", "..", "shared", "nomad", "openapi.yaml");

type Schema = { [key: string]: unknown };

function closeObjects(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(closeObjects);
  if (!node || typeof node !== "object") return;
  const schema = node as Schema;
  if (schema.properties && typeof schema.properties === "object" && schema.additionalProperties === undefined) {
    schema.additionalProperties = false;
  }
  Object.values(schema).forEach(closeObjects);
}

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function load(): Ajv {
  if (ajv) return ajv;
  if (!existsSync(OPENAPI_PATH)) {
    throw new Error(`Nomad's OpenAPI description not found at ${OPENAPI_PATH}: clone the shared/ directory beside the repo`);
  }
  const doc = parse(readFileSync(OPENAPI_PATH, "utf8")) as { components: { schemas: Record<string, Schema> } };
  closeObjects(doc.components.schemas);
  ajv = new Ajv({ allErrors: true, strict: false });
  // OpenAPI formats: integers/numbers are checked by `type`; strings by their shape.
  for (const f of ["int32", "int64", "double", "float"]) ajv.addFormat(f, { type: "number", validate: () => true });
  ajv.addFormat("byte", /^[A-Za-z0-9+/]*={0,2}$/);
  ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
  ajv.addSchema({ $id: "nomad", components: doc.components });
  return ajv;
}

/** Errors of `value` against `components.schemas[name]`, as readable lines (empty = valid). */
export function nomadSchemaErrors(name: string, value: unknown): string[] {
  const a = load();
  let validate = validators.get(name);
  if (!validate) {
    validate = a.compile({ $ref: `nomad#/components/schemas/${name}` });
    validators.set(name, validate);
  }
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) =>
    `${name}${e.instancePath} ${e.message}${e.params && "additionalProperty" in e.params ? `: '${String(e.params.additionalProperty)}'` : ""}`);
}
