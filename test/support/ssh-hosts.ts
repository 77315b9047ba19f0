// Real sshd on network-namespace test hosts. hosts[0] of the lab is the control node
// (where pulumi would run: OpenSSH client, relay.sh); the rest are "desktops" each with
// its own sshd, host key and an authorized key generated here for this run only.
import { spawn, execFileSync, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createNetnsHosts, NetnsHost, NetnsLab } from "./netns";

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SshLab {
  lab: NetnsLab;
  control: NetnsHost;
  nodes: NetnsHost[];
  /** The client's private key (OpenSSH format), as the stack's secret would hold it. */
  privateKey: string;
  dir: string;
  /** Runs `command` on a node as root over SSH from the control node. */
  ssh(node: NetnsHost, command: string, stdin?: string, timeoutMs?: number): Promise<RunResult>;
  /** Runs a program on the control node (inside its namespace) with extra environment. */
  onControl(argv: string[], env?: Record<string, string>, timeoutMs?: number): Promise<RunResult>;
  teardown(): Promise<void>;
}

function collect(child: ChildProcess, stdin: string | undefined, timeoutMs: number, what: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not finish within ${timeoutMs} ms; output so far:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(stdin ?? "");
  });
}

export async function createSshHosts(nodeCount: number, opts: { prefix: string }): Promise<SshLab> {
  const lab = await createNetnsHosts(nodeCount + 1, { prefix: opts.prefix });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `aide-ssh-${opts.prefix}-`));
  const sshds: ChildProcess[] = [];
  const teardown = async () => {
    for (const p of sshds) p.kill("SIGTERM");
    await lab.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [control, ...nodes] = lab.hosts;
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "aide-test", "-f", path.join(dir, "id")]);
    fs.copyFileSync(path.join(dir, "id.pub"), path.join(dir, "authorized_keys"));
    fs.mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege-separation directory
    for (const node of nodes) {
      const hostKey = path.join(dir, `host-${node.name}`);
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
      const config = path.join(dir, `sshd-${node.name}.conf`);
      fs.writeFileSync(
        config,
        [
          `ListenAddress ${node.address}`,
          "Port 22",
          `HostKey ${hostKey}`,
          `PidFile ${path.join(dir, `sshd-${node.name}.pid`)}`,
          `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
          "PermitRootLogin prohibit-password",
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          "UsePAM no",
          "StrictModes no",
          "",
        ].join("\n"),
      );
      const sshd = spawn("ip", ["netns", "exec", node.ns, "/usr/sbin/sshd", "-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
      sshds.push(sshd);
    }
    const ssh = (node: NetnsHost, command: string, stdin?: string, timeoutMs = 120_000) =>
      collect(
        spawn("ip", [
          "netns", "exec", control.ns, "ssh", "-i", path.join(dir, "id"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
          "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", `root@${node.address}`, command,
        ]),
        stdin,
        timeoutMs,
        `ssh ${node.address} ${command}`,
      );
    const onControl = (argv: string[], env: Record<string, string> = {}, timeoutMs = 120_000) =>
      collect(spawn("ip", ["netns", "exec", control.ns, ...argv], { env: { ...process.env, ...env } }), undefined, timeoutMs, argv.join(" "));
    // Bounded wait until every sshd answers.
    for (const node of nodes) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const r = await ssh(node, "true", undefined, 15_000);
        if (r.code === 0) break;
        if (Date.now() > deadline) throw new Error(`sshd on ${node.name} (${node.address}) did not accept the test key: ${r.stderr}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    return { lab, control, nodes, privateKey: fs.readFileSync(path.join(dir, "id"), "utf8"), dir, ssh, onControl, teardown };
  } catch (e) {
    await teardown();
    throw e;
  }
}
