/**
 * Test hosts in network namespaces: a bridge in the root namespace (the test runs there, at .1) and one
 * namespace per host, each with its own address on the bridge's /24. Traffic never leaves the machine.
 * Needs root and iproute2; `netnsAvailable()` says whether this machine can.
 */
import { spawnSync } from "node:child_process";

export interface NetnsHost { name: string; ip: string; exec(argv: string[], opts?: { env?: Record<string, string | undefined> }): ReturnType<typeof Bun.spawn> }
export interface Topology { gateway: string; hosts: NetnsHost[]; destroy(): void }

function ip(args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
}

export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = `tpprobe${process.pid}`;
  const r = spawnSync("ip", ["netns", "add", probe]);
  if (r.status !== 0) return false;
  spawnSync("ip", ["netns", "del", probe]);
  return true;
}

/** `count` hosts on 10.<octet>.0.0/24 (the bridge is .1, host i is .(i+2)). Names are unique per process. */
export function createTopology(count: number, octet = 200 + (process.pid % 50)): Topology {
  const tag = (process.pid % 100000).toString(36);
  const bridge = `tpbr${tag}`;
  const prefix = `10.${octet}.0`;
  const hosts: NetnsHost[] = [];
  const destroy = () => {
    for (const h of hosts) spawnSync("ip", ["netns", "del", h.name]);
    spawnSync("ip", ["link", "del", bridge]);
  };
  try {
    ip(["link", "add", bridge, "type", "bridge"]);
    ip(["addr", "add", `${prefix}.1/24`, "dev", bridge]);
    ip(["link", "set", bridge, "up"]);
    for (let i = 0; i < count; i++) {
      const name = `tp${tag}h${i}`;
      const outer = `tp${tag}v${i}`;
      const inner = `tp${tag}i${i}`;
      ip(["netns", "add", name]);
      const host: NetnsHost = {
        name,
        ip: `${prefix}.${i + 2}`,
        exec: (argv, opts = {}) => Bun.spawn(["ip", "netns", "exec", name, ...argv], { env: { ...process.env, ...opts.env }, stdout: "pipe", stderr: "pipe" }),
      };
      hosts.push(host);
      ip(["link", "add", outer, "type", "veth", "peer", "name", inner]);
      ip(["link", "set", inner, "netns", name]);
      ip(["link", "set", outer, "master", bridge]);
      ip(["link", "set", outer, "up"]);
      ip(["netns", "exec", name, "ip", "addr", "add", `${host.ip}/24`, "dev", inner]);
      ip(["netns", "exec", name, "ip", "link", "set", inner, "up"]);
      ip(["netns", "exec", name, "ip", "link", "set", "lo", "up"]);
    }
  } catch (err) {
    destroy();
    throw err;
  }
  return { gateway: `${prefix}.1`, hosts, destroy };
}

/** Make `host` unable to reach `address` (a partition: packets to it are dropped by a blackhole route). */
export function partition(host: NetnsHost, address: string): () => void {
  ip(["netns", "exec", host.name, "ip", "route", "add", "blackhole", `${address}/32`]);
  return () => ip(["netns", "exec", host.name, "ip", "route", "del", "blackhole", `${address}/32`]);
}
