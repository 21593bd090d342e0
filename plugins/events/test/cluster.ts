/** Test fixture: a real 3-master Redis Cluster (redis-server ×3 + `redis-cli --cluster create`) on free ports. */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { freePort, tempDir } from "../../../test/support/harness";

export interface TestCluster { url: string; ports: number[]; stop(): Promise<void> }

export async function startCluster(): Promise<TestCluster> {
  const dir = tempDir("tradpal-cluster-");
  const ports = [freePort(), freePort(), freePort()];
  const procs = ports.map((port) => Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--dir", dir, "--save", "", "--appendonly", "no", "--dbfilename", `dump-${port}.rdb`], { stdout: "ignore", stderr: "ignore" }));
  const cli = (args: string[]) => Bun.spawnSync(["redis-cli", ...args], { stdout: "pipe", stderr: "pipe" });
  for (const port of ports) {
    for (let i = 0; i < 100 && cli(["-p", String(port), "ping"]).stdout.toString().trim() !== "PONG"; i++) await Bun.sleep(30);
  }
  const create = cli(["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"]);
  if (create.exitCode !== 0) throw new Error(`cluster create failed: ${create.stderr.toString()}${create.stdout.toString()}`);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (ports.every((p) => cli(["-p", String(p), "cluster", "info"]).stdout.toString().includes("cluster_state:ok"))) break;
    await Bun.sleep(100);
  }
  return {
    url: `redis://127.0.0.1:${ports[0]}`,
    ports,
    async stop() {
      for (const p of procs) p.kill();
      await Promise.all(procs.map((p) => p.exited));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
