/**
 * Quarantine end to end in one host with the real security plugin: an enforce-mode policy, within 1 s of the
 * alert, announces service.quarantine on the bus and gets the service's certificate into the CRL (through the
 * security plugin's HTTP API), records and audits it; an operator lifts it with the admin token; dry run
 * changes nothing. The gateway's side (routes 503, tokens refused) is not in plugins/falco: a TEST-ONLY
 * stand-in plugin records what the gateway would receive on the bus.
 */
import { test, expect, beforeAll, afterAll } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Elysia } from "elysia";
import { Type } from "@sinclair/typebox";
import { definePlugin } from "../../../src/core/plugin";
import type { ServiceQuarantine } from "../../../src/contracts/bus-topics";
import { freePort, startHost, type TestHost } from "../../../test/support/harness";
import { crlText } from "../../../test/support/openssl-pki";
import { alertOf, postJson, until } from "./support";

const seen: ServiceQuarantine[] = [];
/** TEST-ONLY stand-in for the gateway: records service.quarantine as the gateway would receive it. */
const gatewayStandIn = definePlugin({
  id: "qwatch", description: "test-only service.quarantine recorder", defaultPort: 0, schema: Type.Object({}),
  async provision(_c, ctx) {
    const off = ctx.bus.on("service.quarantine", (q) => seen.push(q));
    return { app: new Elysia(), async stop() { off(); } };
  },
});

const ADMIN = "security-admin-token-0123456789abcdef";
const FALCO_ADMIN = "falco-admin-token-0123456789abcdef";
let t: TestHost;
let falco: string, security: string;
const auth = { authorization: `Bearer ${ADMIN}` };

beforeAll(async () => {
  const secPort = freePort();
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  security:
    port: ${secPort}
    admin_token: "${ADMIN}"
  qwatch:
    port: 0
  falco:
    port: 0
    dedup: { window: 30s, group_wait: 200ms }
    services:
      - { service: trading_service, container_names: [trading_service] }
      - { service: risk, container_names: [risk_engine] }
    respond:
      admin_token: "${FALCO_ADMIN}"
      security_url: "http://127.0.0.1:${secPort}"
      security_token: "${ADMIN}"
      policies:
        - { on: [quarantine], min_priority: critical, action: quarantine, mode: enforce }
        - { on: [TradPal Shell In Trading Container], min_priority: warning, action: quarantine, mode: dry_run }
`, { plugins: { qwatch: gatewayStandIn } });
  falco = t.url("falco");
  security = t.url("security");
});
afterAll(async () => { await t.stop(); });

const crlSerials = async () => crlText(await (await fetch(`${security}/ca/crl`)).text(), t.dir);

async function issue(service: string): Promise<string> {
  const r = await fetch(`${security}/credentials/${service}`, { method: "POST", headers: auth });
  expect(r.status).toBe(201);
  return (await r.json()).serial as string;
}

test("dry run: logs, audits and emits what it would do; changes nothing", async () => {
  const serial = await issue("risk");
  const res = await postJson(falco + "/", alertOf({ priority: "Warning" }, { "container.name": "risk_engine", "container.id": "r1" }));
  expect(res.status).toBe(200);
  await until(async () => (await (await fetch(`${falco}/falco/quarantine`)).json()).services.length === 1);
  const rec = (await (await fetch(`${falco}/falco/quarantine`)).json()).services[0];
  expect(rec).toMatchObject({ service: "risk", mode: "dry_run", rule: "TradPal Shell In Trading Container" });
  expect(rec.steps.every((s: any) => s.result === "planned")).toBe(true);
  await Bun.sleep(200);
  expect(seen).toHaveLength(0);
  expect(await crlSerials()).not.toContain(serial.toUpperCase());
  expect((await fetch(`${security}/credentials/risk`, { headers: auth })).status).toBe(200);
});

test("enforce: within 1 s the bus carries service.quarantine and the certificate is in the CRL; lift restores", async () => {
  const serial = await issue("trading_service");
  const t0 = Date.now();
  await postJson(falco + "/", alertOf({ rule: "TradPal Crypto Miner Indicators", priority: "Critical", tags: ["tradpal", "quarantine"] }, { "proc.name": "xmrig" }));
  await until(async () => seen.length > 0 && (await crlSerials()).includes(serial.toUpperCase()), 1000, 20);
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(seen[0]).toMatchObject({ service: "trading_service", action: "quarantine", spiffeId: "spiffe://tradpal.local/service/trading_service", rule: "TradPal Crypto Miner Indicators" });
  const recOf = async () => (await (await fetch(`${falco}/falco/quarantine`)).json()).services.find((s: any) => s.service === "trading_service");
  await until(async () => (await recOf()).steps.length === 2);
  const rec = await recOf();
  expect(rec.mode).toBe("enforce");
  expect(rec.steps.map((s: any) => s.result)).toEqual(["done", "done"]);
  // A second alert does not quarantine twice.
  await postJson(falco + "/", alertOf({ rule: "TradPal Crypto Miner Indicators", priority: "Critical", tags: ["quarantine"] }, { "proc.name": "xmrig" }));
  expect(seen.filter((q) => q.action === "quarantine")).toHaveLength(1);

  expect((await fetch(`${falco}/falco/quarantine/trading_service/lift`, { method: "POST" })).status).toBe(401);
  const lift = await fetch(`${falco}/falco/quarantine/trading_service/lift`, { method: "POST", headers: { authorization: `Bearer ${FALCO_ADMIN}` } });
  expect(lift.status).toBe(200);
  expect(seen.at(-1)).toMatchObject({ service: "trading_service", action: "lift" });
  expect((await fetch(`${falco}/falco/quarantine/trading_service/lift`, { method: "POST", headers: { authorization: `Bearer ${FALCO_ADMIN}` } })).status).toBe(404);
  // The revoked certificate stays revoked; a new one can be issued after the lift.
  expect(await issue("trading_service")).not.toBe(serial);

  const audit = readFileSync(join(t.dir, "data", "falco", "audit.log"), "utf8");
  expect(audit).toContain('"action":"service.quarantine","target":"trading_service"');
  expect(audit).toContain('"action":"service.quarantine.dry_run","target":"risk"');
  expect(audit).toContain('"action":"service.quarantine.lift","target":"trading_service"');
  const metrics = await (await fetch(`${falco}/metrics`)).text();
  expect(metrics).toContain('tradpal_falco_responses_total{action="quarantine",mode="enforce",result="done"} 1');
  expect(metrics).toContain('tradpal_falco_responses_total{action="quarantine",mode="enforce",result="already"} 1');
});
