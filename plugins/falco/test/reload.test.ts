/** A config reload keeps the alert history and the quarantine records (host shared pool), and applies the new settings. */
import { test, expect, afterAll } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";
import { alertOf, postJson, until } from "./support";

const yaml = (wait: string) => `
host:
  data_dir: \${DATA_DIR}
plugins:
  falco:
    port: 0
    dedup: { window: 30s, group_wait: ${wait} }
    services: [{ service: trading_service, container_names: [trading_service] }]
    respond:
      policies: [{ on: [quarantine], min_priority: critical, action: quarantine, mode: dry_run }]
`;
let t: TestHost;
afterAll(async () => { await t?.stop(); });

test("history and quarantine records survive a reload", async () => {
  t = await startHost(yaml("100ms"));
  const base = t.url("falco");
  await postJson(base + "/", [alertOf(), alertOf({ priority: "Critical", tags: ["quarantine"] })]);
  await until(async () => (await (await fetch(`${base}/falco/quarantine`)).json()).services.length === 1);
  const r = await t.rewrite(yaml("200ms"));
  expect(r).toMatchObject({ ok: true, changed: ["falco"] }); // a new instance was provisioned
  const after = t.url("falco");
  await postJson(after + "/", alertOf());
  const raw = await (await fetch(`${after}/falco/alerts?folded=false`)).json();
  expect(raw.alerts.map((a: any) => a.seq)).toEqual([3, 2, 1]);
  expect((await (await fetch(`${after}/falco/quarantine`)).json()).services[0]).toMatchObject({ service: "trading_service", mode: "dry_run" });
});
