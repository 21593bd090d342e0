/**
 * The gateway trusting the security plugin's tokens end to end: two real hosts (security, gateway),
 * ES256 tokens minted at POST /tokens/:service, verified by the gateway with the JWKS it fetches from
 * /.well-known/jwks.json; a signing-key rotation at the security plugin is followed without restart.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";

const ADMIN = "adm-" + crypto.randomUUID();
let security: TestHost;
let gateway: TestHost;
let upstream: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ ok: true }) });
  security = await startHost(`host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  security:\n    port: 0\n    admin_token: "${ADMIN}"\n    services:\n      trader: { scopes: [trade, read] }\n      viewer: { scopes: [read] }\n`, { only: ["security"] });
  const jwks = `${security.url("security")}/.well-known/jwks.json`;
  gateway = await startHost(
    `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  gateway:\n    port: 0\n    auth: { jwks_url: "${jwks}", jwks_min_refetch: 100ms }\n    services:\n      - name: orders\n        path_prefix: /orders\n        auth_required: true\n        scopes: [trade]\n        instances:\n          - url: http://127.0.0.1:${upstream.port}\n        health_check: { enabled: false }\n`,
    { only: ["gateway"] },
  );
});

afterAll(async () => {
  await gateway?.stop();
  await security?.stop();
  upstream?.stop(true);
});

async function mint(service: string): Promise<string> {
  const r = await fetch(`${security.url("security")}/tokens/${service}`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: "{}" });
  expect(r.status).toBe(201);
  return ((await r.json()) as any).token;
}
const call = (tok: string) => fetch(`${gateway.url("gateway")}/orders/1`, { headers: { authorization: `Bearer ${tok}` } });

test("a token minted by the security plugin opens the route; one without the scope gets 403", async () => {
  expect((await call(await mint("trader"))).status).toBe(200);
  expect((await call(await mint("viewer"))).status).toBe(403);
});

test("signing-key rotation at the security plugin: new tokens accepted (JWKS re-fetched), old ones still valid", async () => {
  const old = await mint("trader");
  expect((await call(old)).status).toBe(200);
  const rot = await fetch(`${security.url("security")}/tokens/rotate`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } });
  expect(rot.status).toBe(200);
  await Bun.sleep(150); // past jwks_min_refetch since the last fetch
  const fresh = await mint("trader");
  expect(fresh.split(".")[0]).not.toBe(old.split(".")[0]); // another kid in the header
  expect((await call(fresh)).status).toBe(200);
  expect((await call(old)).status).toBe(200);
});

test("a token signed by the security plugin but tampered with → 401", async () => {
  const tok = await mint("viewer");
  const [h, p, s] = tok.split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  claims.scopes = ["trade"];
  claims.scope = "trade";
  const r = await call(`${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`);
  expect(r.status).toBe(401);
});
