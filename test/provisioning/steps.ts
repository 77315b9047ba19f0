// Runs a step exactly as the Pulumi program does: stepProgram() on stdin to
// `bash -s -- <op>` over SSH, here from the netns control host to a netns node.
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { stepCommand, stepProgram } from "../../infra/shell";
import type { NetnsHost } from "../support/netns";
import type { RunResult, SshLab } from "../support/ssh-hosts";

export async function runStep(lab: SshLab, node: NetnsHost, script: string, op: "create" | "update" | "delete", vars: Record<string, string>): Promise<RunResult> {
  return lab.ssh(node, stepCommand(op, "root"), stepProgram(script, vars));
}

/** Runs a step and insists it succeeded, showing its output when it did not. */
export async function okStep(lab: SshLab, node: NetnsHost, script: string, op: "create" | "update" | "delete", vars: Record<string, string>): Promise<string> {
  const r = await runStep(lab, node, script, op, vars);
  if (r.code !== 0) throw new Error(`${script} ${op} on ${node.name} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The step's summary line: "<step>: <op>: no changes" or "<n> change(s)". */
export function summary(stdout: string): string {
  return stdout.trim().split("\n").filter((l) => / (create|update|delete): /.test(l)).pop() ?? "(no summary line)";
}

export function sha256File(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** A zip holding one executable, as HashiCorp ships Nomad. */
export function makeZip(dir: string, name: string, body: string): string {
  fs.mkdirSync(`${dir}/zip-src`, { recursive: true });
  fs.writeFileSync(`${dir}/zip-src/${name}`, body, { mode: 0o755 });
  const zip = `${dir}/${name}.zip`;
  fs.rmSync(zip, { force: true });
  execFileSync("zip", ["-q", "-j", zip, `${dir}/zip-src/${name}`]);
  return zip;
}
