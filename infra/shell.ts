// How values reach a node's shell: only as single-quoted data, never spliced into code.
import * as fs from "fs";
import * as path from "path";

export const SCRIPTS_DIR = path.join(__dirname, "scripts");

/** One POSIX single-quoted word: every byte stays data ($(), backticks, newlines too). */
export function shq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const VAR_NAME = /^AIDE_[A-Z0-9_]+$/;

/**
 * The bash program a step sends on stdin: its values as quoted assignments, the shared
 * library, then the step script. It is wrapped in a function so bash has read all of it
 * before anything runs; commands inside then read /dev/null, not the rest of the script.
 * The operation (create, update, delete) is the program's first argument.
 */
export function stepProgram(script: string, vars: Record<string, string>): string {
  const assignments = Object.entries({ AIDE_STEP: script, ...vars }).map(([name, value]) => {
    if (!VAR_NAME.test(name)) throw new Error(`step ${script}: variable name '${name}' must match ${VAR_NAME}`);
    return `${name}=${shq(value)}`;
  });
  const read = (file: string) => fs.readFileSync(path.join(SCRIPTS_DIR, file), "utf8");
  return [
    "aide_step() {",
    ...assignments,
    read("lib.sh"),
    read(`${script}.sh`),
    "}",
    'aide_step "$@" </dev/null',
    "",
  ].join("\n");
}

/** The command line that runs a step program from stdin, as root. */
export function stepCommand(op: "create" | "update" | "delete", user: string): string {
  return `${user === "root" ? "" : "sudo -n "}bash -s -- ${op}`;
}
