/**
 * Token revocation at the gateway's edge: (1) does the deny-list cost the hot path anything? check()
 * on a cached token with an empty deny-list (A) vs 100k revoked jtis (B), the peer being check() on a
 * route without auth (C, the floor); interleaved A B C × 3 rounds, in-process, ns per call.
 * (2) What a revocation costs: evicting one jti from a full 10k-token cache (via the jti index).
 * (3) How fast it arrives: POST /tokens/revoke answered → first 401 at the gateway, same host (bus)
 * and another host (real Redis pub/sub), 20 revocations each, real hosts.
 */
import { SignJWT } from "jose";
import { createEdgePolicy } from "../plugins/gateway/edge-policy/policy";
import { decodeGatewaySettings } from "../plugins/gateway/schema";
import { route, testContext } from "../plugins/gateway/test/support";
import { Authenticator } from "../plugins/gateway/auth/authenticator";
import { freePort, SHARED_REDIS_URL, startHost, type TestHost } from "../test/support/harness";
import { median } from "./lib/measure";
import { table, writeSection } from "./lib/results";

const SECRET = "bench-" + crypto.randomUUID();
const nowS = () => Math.floor(Date.now() / 1000);
const mint = (jti: string) => new SignJWT({ sub: "alice", iss: "tradpal-gateway", aud: "tradpal", scope: "trade", jti }).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime(nowS() + 3600).sign(new TextEncoder().encode(SECRET));

async function hotPath(): Promise<string[][]> {
  const settings = decodeGatewaySettings({ auth: { hs256_secret: SECRET }, rate_limiting: { enabled: false } });
  const ctxA = testContext();
  const ctxB = testContext();
  const a = await createEdgePolicy(settings, ctxA, []);
  const b = await createEdgePolicy(settings, ctxB, []);
  for (let i = 0; i < 100_000; i++) ctxB.bus.emit("token.revoked", { jti: `r-${i}`, exp: nowS() + 3600 });
  const tok = await mint("live-1");
  const req = new Request("http://gw/orders", { headers: { authorization: `Bearer ${tok}` } });
  const authed = route("orders", { auth: true });
  const open = route("open", { auth: false });
  const N = 300_000;
  const run = (p: typeof a, r: typeof authed) => {
    p.check(req, r, "10.0.0.1");
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < N; i++) p.check(req, r, "10.0.0.1");
    return (Bun.nanoseconds() - t0) / N;
  };
  const A: number[] = [], B: number[] = [], C: number[] = [];
  for (let round = 0; round < 3; round++) { A.push(run(a, authed)); B.push(run(b, authed)); C.push(run(a, open)); }
  await a.stop(); await b.stop();
  const mA = median(A), mB = median(B), mC = median(C);
  return [
    ["A check(), cached token, deny-list empty", mA.toFixed(0), "1.00×"],
    ["B check(), cached token, 100k revoked jtis", mB.toFixed(0), `${(mB / mA).toFixed(2)}×`],
    ["C peer: check(), route without auth", mC.toFixed(0), `${(mC / mA).toFixed(2)}×`],
  ];
}

async function evictionCost(): Promise<number> {
  const auth = new Authenticator({ hsSecret: Buffer.from(SECRET), issuer: "tradpal-gateway", jwksIssuer: "", audience: "tradpal", skewS: 30, maxBytes: 8192 }, 10_000, [], undefined, { cacheHit() {}, cacheMiss() {} });
  for (let i = 0; i < 10_000; i++) auth.authenticate(new Request("http://gw/", { headers: { authorization: `Bearer ${await mint(`c-${i}`)}` } }));
  const xs: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = Bun.nanoseconds();
    auth.evictJti(`c-${i * 7}`);
    xs.push((Bun.nanoseconds() - t0) / 1000);
  }
  return median(xs);
}

const ADMIN = "adm-" + crypto.randomUUID();
const CHANNEL = `tradpal:bench:revoked:${process.pid}:${Date.now()}`;

async function propagation(upstreamPort: number): Promise<string[][]> {
  const sec = (port: number | string) => `  security:\n    port: ${port}\n    admin_token: "${ADMIN}"\n    tokens: { revocation_channel: "${CHANNEL}" }\n`;
  const gw = (secUrl: string) => `  gateway:\n    port: 0\n    auth: { jwks_url: "${secUrl}/.well-known/jwks.json", revocation: { channel: "${CHANNEL}" } }\n    rate_limiting: { enabled: false }\n    services:\n      - name: orders\n        path_prefix: /orders\n        auth_required: true\n        instances:\n          - url: http://127.0.0.1:${upstreamPort}\n        health_check: { enabled: false }\n`;
  const head = (redis: boolean) => `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\n${redis ? `  redis_url: "${SHARED_REDIS_URL}"\n` : ""}plugins:\n`;
  const hosts: TestHost[] = [];
  const rows: string[][] = [];
  try {
    const port = freePort();
    const one = await startHost(head(false) + sec(port) + gw(`http://127.0.0.1:${port}`), { only: ["security", "gateway"] });
    hosts.push(one);
    const s2 = await startHost(head(true) + sec(0), { only: ["security"] });
    hosts.push(s2);
    const g2 = await startHost(head(true) + gw(s2.url("security")), { only: ["gateway"] });
    hosts.push(g2);
    for (const [name, secUrl, gwUrl] of [["same host (bus)", one.url("security"), one.url("gateway")], ["other host (Redis pub/sub)", s2.url("security"), g2.url("gateway")]] as const) {
      const xs: number[] = [];
      for (let i = 0; i < 20; i++) {
        const m = (await (await fetch(`${secUrl}/tokens/trader`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
        const call = () => fetch(`${gwUrl}/orders/1`, { headers: { authorization: `Bearer ${m.token}` } });
        if ((await call()).status !== 200) throw new Error("token not accepted before revocation");
        await fetch(`${secUrl}/tokens/revoke`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ token: m.token }) });
        const t0 = performance.now();
        let polls = 0;
        while ((await call()).status !== 401 && polls++ < 2000) await Bun.sleep(0);
        xs.push(performance.now() - t0);
      }
      rows.push([name, median(xs).toFixed(2), Math.max(...xs).toFixed(2)]);
    }
  } finally {
    for (const h of hosts.reverse()) await h.stop();
  }
  return rows;
}

const upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
try {
  const hot = await hotPath();
  const evictUs = await evictionCost();
  const prop = await propagation(upstream.port!);
  const md = [
    "In-process `check()` (HS256 token already in the verified-token cache), interleaved A B C × 3 rounds, 300k calls each, median ns/call:",
    "",
    table(["variant", "ns/call", "vs A"], hot),
    "",
    `Evicting one revoked jti from a full 10k-token cache (jti index → cache key; once per revocation): median ${evictUs.toFixed(2)} µs.`,
    "",
    "Revocation → gateway refusal (POST /tokens/revoke answered → first 401 through the gateway; real hosts, 20 revocations each; includes one gateway round trip):",
    "",
    table(["path", "median ms", "max ms"], prop),
  ].join("\n");
  console.log(md);
  writeSection("gateway-revocation", md);
} finally {
  upstream.stop(true);
}
