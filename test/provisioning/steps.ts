// Runs a step exactly as the Pulumi program does: stepProgram() on stdin to
// `bash -s -- <op>` over SSH, here from the netns control host to a netns node.
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
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

/** Every file under a root, with its mode and content hash: "what is on the disk". */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const full = path.join(p, e.name);
      const rel = path.relative(root, full);
      if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(full)}`;
      else if (e.isDirectory()) walk(full);
      else if (e.isFile()) out[rel] = `${(fs.statSync(full).mode & 0o777).toString(8)} ${sha256File(full)}`;
      // Device nodes and FIFOs (a Debian root's /dev) are listed, never read: reading one blocks.
      else out[rel] = "special";
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out;
}
