/**
 * The Alertmanager output against a real Prometheus Alertmanager (Debian's prometheus-alertmanager) on a free
 * loopback port: folded alerts arrive through POST /api/v2/alerts and are read back through its API.
 */
import { test, expect, beforeAll, afterAll } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startHost, type TestHost } from "../../../test/support/harness";
import { alertOf, postJson, until } from "./support";

const BIN = Bun.which("prometheus-alertmanager") ?? Bun.which("alertmanager");
let am: ReturnType<typeof Bun.spawn> | undefined;
let amUrl = "";
let dir = "";
let t: TestHost;

beforeAll(async () => {
  if (!BIN) throw new Error("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager; bun run test installs it)");
  dir = mkdtempSync(join(tmpdir(), "falco-am-"));
  writeFileSync(join(dir, "am.yml"), 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n');
  const port = freePort();
  amUrl = `http://127.0.0.1:${port}`;
  am = Bun.spawn([BIN, `--config.file=${join(dir, "am.yml")}`, `--storage.path=${dir}`, `--web.listen-address=127.0.0.1:${port}`, "--cluster.listen-address="], { stdout: "ignore", stderr: "pipe" });
  await until(async () => { try { return (await fetch(`${amUrl}/-/ready`)).ok; } catch { return false; } }, 15_000, 100);
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  falco:
    port: 0
    dedup: { window: 1m, group_wait: 100ms }
    services: [{ service: trading_service, container_names: [trading_service] }]
    outputs:
      - { name: am, type: alertmanager, url: "${amUrl}", minimum_priority: warning }
`);
});
afterAll(async () => {
  await t?.stop();
  am?.kill();
  await am?.exited;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("Alertmanager receives folded alerts with count, service and severity; below minimum_priority stays out", async () => {
  const base = t.url("falco");
  await postJson(base + "/", Array.from({ length: 30 }, () => alertOf({ rule: "TradPal Crypto Miner Indicators", priority: "Critical" }, { "proc.name": "xmrig" })));
  await postJson(base + "/", alertOf({ rule: "Quiet rule", priority: "Notice" }));
  type AmAlert = { labels: Record<string, string>; annotations: Record<string, string>; status: { state: string } };
  let alerts: AmAlert[] = [];
  await until(async () => {
    alerts = await (await fetch(`${amUrl}/api/v2/alerts`)).json() as AmAlert[];
    return alerts.length > 0;
  }, 10_000, 100);
  expect(alerts).toHaveLength(1);
  const a = alerts[0];
  expect(a.labels).toMatchObject({ alertname: "FalcoAlert", rule: "TradPal Crypto Miner Indicators", priority: "Critical", severity: "critical", service: "trading_service", proc_name: "xmrig", container_id: "abc123" });
  expect(a.annotations).toMatchObject({ count: "30", spiffe_id: "spiffe://tradpal.local/service/trading_service" });
  expect(a.status.state).toBe("active");
  const filtered = await (await fetch(`${amUrl}/api/v2/alerts?filter=${encodeURIComponent('rule="Quiet rule"')}`)).json() as AmAlert[];
  expect(filtered).toHaveLength(0);
});
