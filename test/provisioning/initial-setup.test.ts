// scripts/initial-setup/setup.sh against temporary root directories shaped like a fresh
// Debian 12 net-install (ifupdown) and like a systemd-networkd install.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { snapshot } from "./steps";

const SETUP = path.join(__dirname, "../../scripts/initial-setup/setup.sh");
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBXkT0yq1w3JmR0p4z7cJm0x5l2ZyMhA2H1lR0pS3d4e pulumi@control";
const INSTALLER_INTERFACES = `# This file describes the network interfaces available on your system
source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug enp3s0
iface enp3s0 inet dhcp
# This is an autoconfigured IPv6 interface
iface enp3s0 inet6 auto
`;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aide-setup-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function freshRoot(name: string, stack: "ifupdown" | "networkd"): string {
  const root = path.join(tmp, name);
  fs.mkdirSync(path.join(root, "etc"), { recursive: true });
  fs.mkdirSync(path.join(root, "sys/class/net/enp3s0"), { recursive: true });
  fs.mkdirSync(path.join(root, "sys/class/net/lo"), { recursive: true });
  fs.writeFileSync(path.join(root, "etc/hostname"), "debian\n");
  fs.writeFileSync(path.join(root, "etc/hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n");
  if (stack === "ifupdown") {
    fs.mkdirSync(path.join(root, "etc/network"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/network/interfaces"), INSTALLER_INTERFACES);
  } else {
    fs.mkdirSync(path.join(root, "etc/systemd/network"), { recursive: true });
  }
  fs.mkdirSync(path.join(root, "usr/sbin"), { recursive: true });
  fs.writeFileSync(path.join(root, "usr/sbin/sshd"), "#!/bin/sh\n", { mode: 0o755 });
  return root;
}

function conf(name: string, lines: Record<string, string>): string {
  const file = path.join(tmp, `${name}.conf`);
  fs.writeFileSync(file, Object.entries(lines).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  return file;
}

const good = { HOSTNAME: "aide-02", STATIC_IP: "192.168.1.102", NETMASK: "255.255.255.0", GATEWAY: "192.168.1.1", INTERFACE: "enp3s0", SSH_AUTHORIZED_KEY: `"${KEY}"` };

function setup(...args: string[]) {
  const r = spawnSync("bash", [SETUP, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

it("turns a net-install's DHCP stanza into a static address, sets the hostname and the key; twice changes nothing", () => {
  const root = freshRoot("ifupdown", "ifupdown");
  const c = conf("good", good);
  const first = setup("--config", c, "--root", root);
  expect(first.stderr).toBe("");
  expect(first.code).toBe(0);
  expect(first.stdout).toContain("setup: would run: systemctl enable --now ssh");
  expect(first.stdout).toMatch(/setup: 5 change\(s\) — the new address takes effect after a reboot or: ifdown enp3s0; ifup enp3s0/);
  const ifaces = fs.readFileSync(path.join(root, "etc/network/interfaces"), "utf8");
  expect(ifaces).toContain("auto lo\niface lo inet loopback");
  expect(ifaces).not.toMatch(/inet dhcp|allow-hotplug enp3s0|inet6 auto/);
  expect(ifaces).toContain("auto enp3s0\niface enp3s0 inet static\n    address 192.168.1.102/24\n    gateway 192.168.1.1\n");
  expect(fs.readFileSync(path.join(root, "etc/network/interfaces.aide-orig"), "utf8")).toBe(INSTALLER_INTERFACES);
  expect(fs.readFileSync(path.join(root, "etc/hostname"), "utf8")).toBe("aide-02\n");
  expect(fs.readFileSync(path.join(root, "etc/hosts"), "utf8")).toBe("127.0.0.1\tlocalhost\n127.0.1.1\taide-02\n");
  expect(fs.readFileSync(path.join(root, "etc/resolv.conf"), "utf8")).toBe("nameserver 192.168.1.1\n");
  expect(fs.readFileSync(path.join(root, "root/.ssh/authorized_keys"), "utf8")).toBe(`${KEY}\n`);
  expect((fs.statSync(path.join(root, "root/.ssh/authorized_keys")).mode & 0o777).toString(8)).toBe("600");

  const before = snapshot(root);
  const second = setup("--config", c, "--root", root);
  expect(second.stdout.trim().split("\n").pop()).toBe("setup: no changes");
  expect(snapshot(root)).toEqual(before);
});

it("writes a systemd-networkd unit when the install uses networkd, with a prefix-length netmask and DNS", () => {
  const root = freshRoot("networkd", "networkd");
  const r = setup("--config", conf("nd", { ...good, NETMASK: "24", DNS: "1.1.1.1 9.9.9.9" }), "--root", root);
  expect(r.code).toBe(0);
  expect(fs.readFileSync(path.join(root, "etc/systemd/network/10-aide-enp3s0.network"), "utf8")).toContain(
    "[Match]\nName=enp3s0\n\n[Network]\nAddress=192.168.1.102/24\nGateway=192.168.1.1\nDNS=1.1.1.1\nDNS=9.9.9.9\n",
  );
  expect(r.stdout).toContain("setup: would run: systemctl enable systemd-networkd");
});

it("--dry-run shows the diffs and writes nothing", () => {
  const root = freshRoot("dry", "ifupdown");
  const before = snapshot(root);
  const r = setup("--config", conf("dry", good), "--root", root, "--dry-run");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("setup: would change: /etc/network/interfaces");
  expect(r.stdout).toContain("    -iface enp3s0 inet dhcp");
  expect(r.stdout).toContain("    +iface enp3s0 inet static");
  expect(r.stdout.trim().split("\n").pop()).toBe("setup: dry run: 5 change(s) would be made; nothing was written");
  expect(snapshot(root)).toEqual(before);
});

it("lists every bad value at once, with the fix, and touches nothing", () => {
  const root = freshRoot("bad", "ifupdown");
  const before = snapshot(root);
  const c = path.join(tmp, "bad.conf");
  fs.writeFileSync(
    c,
    [
      "HOSTNAME=$(touch " + path.join(tmp, "pwned") + ")",
      "STATIC_IP=192.168.1.300",
      "NETMASK=255.0.255.0",
      "GATEWAY=10.0.0.1",
      "INTERFACE=eth9",
      "DNS=dns.example",
      "SSH_AUTHORIZED_KEY=not a key",
      "COLOUR=blue",
      "this line is junk",
    ].join("\n"),
  );
  const r = setup("--config", c, "--root", root);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trim().split("\n");
  expect(lines[0]).toBe(`setup: nothing was changed; fix these in ${c} first:`);
  expect(lines.slice(1).map((l) => l.replace(/ — .*/, ""))).toEqual([
    `  - ${c} line 8: unknown setting 'COLOUR'`,
    `  - ${c} line 9: 'this line is junk' is not KEY=value`,
    `  - HOSTNAME '$(touch ${path.join(tmp, "pwned")})' is not a hostname (lowercase letters, digits and '-')`,
    "  - STATIC_IP '192.168.1.300' is not an IPv4 address",
    "  - NETMASK '255.0.255.0' is not a netmask from /8 to /30",
    "  - INTERFACE 'eth9' does not exist on this machine",
    "  - DNS 'dns.example' is not an IPv4 address",
    "  - SSH_AUTHORIZED_KEY is not one OpenSSH public key line",
  ]);
  expect(r.stderr).toContain("it has: enp3s0 ");
  expect(fs.existsSync(path.join(tmp, "pwned"))).toBe(false);
  expect(snapshot(root)).toEqual(before);
});

it("refuses a gateway outside the node's subnet", () => {
  const r = setup("--config", conf("gw", { ...good, GATEWAY: "192.168.2.1" }), "--root", freshRoot("gw", "ifupdown"));
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("GATEWAY 192.168.2.1 is not in 192.168.1.102/24 — the router must be on the node's own subnet");
});
