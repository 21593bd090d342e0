/** Audit over HTTP: every credential, token and secret operation leaves one chained line; GET /audit pages; tampering is caught. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSecurity, run, type SecurityHarness } from "./support";

let s: SecurityHarness;
beforeAll(async () => { s = await startSecurity(`services:\n  orders: { scopes: [read] }`); });
afterAll(async () => { await s?.stop(); });

test("operations are audited with who, what, target, outcome and the request id; GET /audit pages", async () => {
  const h = { ...s.auth(), "x-request-id": "audit-test-1" };
  await fetch(`${s.base}/credentials/orders`, { method: "POST", headers: h });
  const tok = (await (await fetch(`${s.base}/tokens/orders`, { method: "POST", headers: h, body: "{}" })).json()).token;
  await fetch(`${s.base}/tokens/validate`, { method: "POST", headers: h, body: JSON.stringify({ token: tok }) });
  await fetch(`${s.base}/secrets/services/orders/k`, { method: "PUT", headers: h, body: JSON.stringify({ data: { v: "value-never-logged" } }) });
  await fetch(`${s.base}/secrets/services/orders/k`, { headers: h });
  await fetch(`${s.base}/secrets/services/other/k`, { headers: s.auth(tok) }); // denied
  const page = await (await fetch(`${s.base}/audit?limit=100`, { headers: s.auth() })).json();
  const actions = page.entries.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`);
  expect(actions).toEqual(["credentials.issue:ok", "token.issue:ok", "token.validate:ok", "secret.write:ok", "secret.read:ok", "secret.read:denied"]);
  expect(page.entries[0]).toMatchObject({ who: "admin", target: "orders", request_id: "audit-test-1", seq: 1 });
  expect(page.entries[5]).toMatchObject({ who: "service:orders", target: "services/other/k" });
  const p1 = await (await fetch(`${s.base}/audit?after=2&limit=2`, { headers: s.auth() })).json();
  expect(p1.entries.map((e: { seq: number }) => e.seq)).toEqual([3, 4]);
  expect(p1.next).toBe(4);
  expect(readFileSync(join(s.dataDir, "security", "audit.log"), "utf8")).not.toContain("value-never-logged");
});

test("GET /audit is for the administrator only; bad paging parameters are 400", async () => {
  const tok = (await (await fetch(`${s.base}/tokens/orders`, { method: "POST", headers: s.auth(), body: "{}" })).json()).token;
  expect((await fetch(`${s.base}/audit`, { headers: s.auth(tok) })).status).toBe(403);
  expect((await fetch(`${s.base}/audit`)).status).toBe(401);
  expect((await fetch(`${s.base}/audit?limit=0`, { headers: s.auth() })).status).toBe(400);
  expect((await fetch(`${s.base}/audit?after=-1`, { headers: s.auth() })).status).toBe(400);
});

test("`bun run audit:verify` accepts the live log and detects a tampered copy", async () => {
  await fetch(`${s.base}/audit`, { headers: s.auth() }); // flush
  const file = join(s.dataDir, "security", "audit.log");
  const ok = await run(["bun", "run", "audit:verify", file]);
  expect(ok.code).toBe(0);
  const lines = readFileSync(file, "utf8").split("\n");
  lines[1] = lines[1].replace('"who":"admin"', '"who":"someone"');
  const copy = join(s.t.dir, "tampered.log");
  writeFileSync(copy, lines.join("\n"));
  const bad = await run(["bun", "run", "audit:verify", copy]);
  expect(bad.code).toBe(1);
  expect(bad.err).toContain("TAMPERED: line 2");
});

test("a refused caller is audited too (anonymous, denied, with the reason code)", async () => {
  await fetch(`${s.base}/secrets/services/orders/k`, { headers: { authorization: "Bearer forged", "x-request-id": "probe-1" } });
  await fetch(`${s.base}/v1/secret/data/services/orders/k`, { headers: { "x-vault-token": "forged", "x-request-id": "probe-2" } });
  const page = await (await fetch(`${s.base}/audit?limit=1000`, { headers: s.auth() })).json();
  const probes = page.entries.filter((e: { request_id?: string }) => e.request_id?.startsWith("probe-"));
  expect(probes.map((e: { who: string; outcome: string; reason: string }) => `${e.who}:${e.outcome}:${e.reason}`)).toEqual(["anonymous:denied:SEC_ERR_BAD_TOKEN", "anonymous:denied:SEC_ERR_BAD_TOKEN"]);
});
