/**
 * /auth/login and /auth/refresh through the edge app (app.handle / policy.handleOwn, no port):
 * argon2id users and API keys, tokens a third party (jose) accepts, refresh rotation with reuse
 * detection (memory and Redis stores), login throttling per account and per IP, bad input → 4xx.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jwtVerify } from "jose";
import { createHash } from "node:crypto";
import { createEdgePolicy } from "../edge-policy/policy";
import { decodeGatewaySettings } from "../schema";
import { route, testContext, decide, uniquePrefix } from "../test/support";
import type { EdgePolicy } from "../edge-policy/contract";
import { SHARED_REDIS_URL } from "../../../test/support/harness";

const SECRET = "login-secret-" + crypto.randomUUID();
const API_KEY = "tp_" + crypto.randomUUID().replaceAll("-", "");
const open: EdgePolicy[] = [];
let users: { name: string; password_hash: string; scopes: string[] }[];

async function make(extra: Record<string, any> = {}) {
  const raw = {
    auth: { hs256_secret: SECRET, access_ttl: "2m", refresh_ttl: "1h" },
    users,
    api_keys: [{ name: "robot", key_sha256: createHash("sha256").update(API_KEY).digest("hex"), scopes: ["read"] }],
    ...extra,
    rate_limiting: { login_per_account: "3/min", login_per_ip: "6/min", ...(extra.rate_limiting ?? {}) },
  };
  const p = await createEdgePolicy(decodeGatewaySettings(raw), testContext(), [route("orders", { auth: true, scopes: ["trade"] })]);
  open.push(p);
  return p;
}

function post(p: EdgePolicy, path: string, body: unknown, ip?: string, headers: Record<string, string> = {}) {
  const req = new Request(`http://localhost${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return ip ? (p as any).handleOwn(req, ip) as Promise<Response> : p.app.handle(req);
}

beforeAll(async () => {
  users = [
    { name: "alice", password_hash: await Bun.password.hash("correct horse", { algorithm: "argon2id" }), scopes: ["trade", "read"] },
    { name: "bob", password_hash: await Bun.password.hash("battery staple", { algorithm: "argon2id" }), scopes: ["read"] },
  ];
});
afterAll(async () => { for (const p of open) await p.stop(); });

describe("POST /auth/login", () => {
  test("a configured user gets an access token (accepted by jose and by the edge) and a refresh token", async () => {
    const p = await make();
    const res = await post(p, "/auth/login", { username: "alice", password: "correct horse" }, "10.50.0.1");
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 120, scope: "trade read", refresh_expires_in: 3600 });
    const { payload } = await jwtVerify(body.access_token, new TextEncoder().encode(SECRET), { issuer: "tradpal-gateway", audience: "tradpal" });
    expect(payload.sub).toBe("alice");
    const d = await decide(p.check(new Request("http://localhost/orders", { headers: { authorization: `Bearer ${body.access_token}` } }), route("orders", { auth: true, scopes: ["trade"] }), "10.50.0.1"));
    expect(d.reject).toBeUndefined();
    expect(d.principal?.subject).toBe("alice");
  });

  test("wrong password and unknown user → the same 401", async () => {
    const p = await make();
    for (const body of [{ username: "alice", password: "nope" }, { username: "mallory", password: "x" }]) {
      const res = await post(p, "/auth/login", body, "10.50.0.2");
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error).toEqual({ code: "GW_ERR_LOGIN_FAILED", message: "unknown user or wrong password" });
    }
  });

  test("API key login; the key also works directly as X-API-Key", async () => {
    const p = await make();
    const res = await post(p, "/auth/login", { api_key: API_KEY }, "10.50.0.3");
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).scope).toBe("read");
    expect((await post(p, "/auth/login", { api_key: "tp_wrong" }, "10.50.0.3")).status).toBe(401);
    const r = route("quotes", { auth: true, scopes: ["read"] });
    const d = await decide(p.check(new Request("http://localhost/q", { headers: { "x-api-key": API_KEY } }), r, "10.50.0.3"));
    expect(d.principal).toMatchObject({ subject: "robot", via: "api_key" });
    const bad = await decide(p.check(new Request("http://localhost/q", { headers: { "x-api-key": "tp_wrong" } }), r, "10.50.0.3"));
    expect(bad.reject!.status).toBe(401);
  });

  test("bad input → 400 with a coded body, never a 500", async () => {
    const p = await make();
    const cases: [unknown, number][] = [
      ["{not json", 400],
      [{ username: "alice" }, 401],
      [{ username: ["alice"], password: "x" }, 400],
      [{ username: 42, password: "x" }, 400],
      [{ username: "", password: "x" }, 400],
      [{ username: "a".repeat(500), password: "x" }, 400],
    ];
    for (const [body, status] of cases) {
      const res = await post(p, "/auth/login", body, "10.50.0.4");
      expect(res.status).toBe(status);
      expect(((await res.json()) as any).error.code).toMatch(/^GW_ERR_/);
    }
  });

  test("failures per account+address: that pair waits (429 + Retry-After); the account from another address is unaffected", async () => {
    const p = await make({ rate_limiting: { login_per_account_ip: "2/min" } });
    for (let i = 0; i < 2; i++) expect((await post(p, "/auth/login", { username: "alice", password: "guess" + i }, "10.51.1.1")).status).toBe(401);
    const res = await post(p, "/auth/login", { username: "alice", password: "correct horse" }, "10.51.1.1");
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await res.json()) as any).error.code).toBe("GW_ERR_LOGIN_THROTTLED");
    expect((await post(p, "/auth/login", { username: "alice", password: "correct horse" }, "10.51.1.2")).status).toBe(200);
    expect((await post(p, "/auth/login", { username: "bob", password: "battery staple" }, "10.51.1.1")).status).toBe(200);
  });

  test("the per-account ceiling slows new addresses only: the owner's known address still logs in", async () => {
    const p = await make();
    expect((await post(p, "/auth/login", { username: "bob", password: "battery staple" }, "10.51.0.100")).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await post(p, "/auth/login", { username: "bob", password: "guess" + i }, `10.51.0.${i}`)).status).toBe(401);
    const res = await post(p, "/auth/login", { username: "bob", password: "battery staple" }, "10.51.0.9");
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await post(p, "/auth/login", { username: "bob", password: "battery staple" }, "10.51.0.100")).status).toBe(200);
    // other accounts are unaffected; successful logins never count
    for (let i = 0; i < 4; i++) expect((await post(p, "/auth/login", { username: "alice", password: "correct horse" }, `10.51.2.${i}`)).status).toBe(200);
  });

  test("throttled per IP across accounts; another IP is unaffected; spoofed XFF from an untrusted peer does not help", async () => {
    const p = await make();
    const names = ["u1", "u2", "u3", "u4", "u5", "u6"];
    for (const n of names) expect((await post(p, "/auth/login", { username: n, password: "x" }, "198.51.100.7", { "x-forwarded-for": `203.0.113.${n.length}${n}` })).status).toBe(401);
    const res = await post(p, "/auth/login", { username: "u7", password: "x" }, "198.51.100.7", { "x-forwarded-for": "203.0.113.99" });
    expect(res.status).toBe(429);
    expect((await post(p, "/auth/login", { username: "alice", password: "correct horse" }, "198.51.100.8")).status).toBe(200);
  });
});

describe("POST /auth/refresh", () => {
  async function loginTokens(p: EdgePolicy) {
    return (await (await post(p, "/auth/login", { username: "alice", password: "correct horse" }, "10.52.0.1")).json()) as any;
  }

  test("rotation: each refresh returns a new pair; reusing an old refresh token revokes the family", async () => {
    const p = await make();
    const first = await loginTokens(p);
    const r1 = await post(p, "/auth/refresh", { refresh_token: first.refresh_token });
    expect(r1.status).toBe(200);
    const second = (await r1.json()) as any;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    await jwtVerify(second.access_token, new TextEncoder().encode(SECRET));
    // replay of the first (stolen) token
    const replay = await post(p, "/auth/refresh", { refresh_token: first.refresh_token });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as any).error.message).toContain("reused");
    // the legitimate holder's newer token is revoked too
    const after = await post(p, "/auth/refresh", { refresh_token: second.refresh_token });
    expect(after.status).toBe(401);
    expect(((await after.json()) as any).error.code).toBe("GW_ERR_REFRESH_INVALID");
  });

  test("garbage and unknown refresh tokens → 401; wrong body → 400", async () => {
    const p = await make();
    expect((await post(p, "/auth/refresh", { refresh_token: "garbage" })).status).toBe(401);
    expect((await post(p, "/auth/refresh", { refresh_token: "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB" })).status).toBe(401);
    expect((await post(p, "/auth/refresh", {})).status).toBe(400);
  });

  test("cluster mode: a family lives in Redis, so rotation and reuse detection span gateways", async () => {
    const prefix = uniquePrefix();
    const rl = { store: "redis", redis_url: SHARED_REDIS_URL, key_prefix: prefix };
    const g1 = await make({ rate_limiting: rl });
    const g2 = await make({ rate_limiting: rl });
    const first = await loginTokens(g1);
    const r = await post(g2, "/auth/refresh", { refresh_token: first.refresh_token });
    expect(r.status).toBe(200);
    const second = (await r.json()) as any;
    expect((await post(g1, "/auth/refresh", { refresh_token: first.refresh_token })).status).toBe(401);
    expect((await post(g2, "/auth/refresh", { refresh_token: second.refresh_token })).status).toBe(401);
  });
});
