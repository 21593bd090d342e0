/**
 * Issue 11 item 6 / Build 10: a stranger cannot lock an account out. Against a real gateway over
 * HTTP, attackers from many addresses (X-Forwarded-For through the trusted loopback proxy) guess
 * alice's password; alice keeps logging in from the address she used before, one attacker address
 * is slowed to the sustained rate, many addresses together hit the per-account ceiling (new addresses
 * then wait), and a slowed pair gets in again once its Retry-After has passed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";

let t: TestHost;
let gw: string;

beforeAll(async () => {
  const hash = await Bun.password.hash("correct horse", { algorithm: "argon2id" });
  t = await startHost(`host:
  data_dir: \${DATA_DIR}
  log_level: warn
plugins:
  gateway:
    port: 0
    auth: { hs256_secret: "login-throttle-${crypto.randomUUID()}" }
    users: [{ name: alice, password_hash: "${hash}", scopes: [read] }, { name: bob, password_hash: "${hash}", scopes: [read] }]
    rate_limiting: { login_per_ip: 1000/min, login_per_account: 10/min, login_per_account_ip: 3/2s }
    services: []
`, { only: ["gateway"] });
  gw = t.url("gateway");
});
afterAll(async () => { await t?.stop(); });

const login = (username: string, password: string, ip: string) =>
  fetch(`${gw}/auth/login`, { method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": ip }, body: JSON.stringify({ username, password }) });

test("50 wrong passwords from 50 addresses: the owner still logs in from her own address every time", async () => {
  expect((await login("alice", "correct horse", "198.51.100.10")).status).toBe(200); // her usual address
  const statuses: number[] = [];
  for (let i = 0; i < 50; i++) {
    statuses.push((await login("alice", `guess-${i}`, `203.0.113.${i + 1}`)).status);
    if (i % 10 === 9) expect((await login("alice", "correct horse", "198.51.100.10")).status).toBe(200);
  }
  // The ceiling held: at most 10 guesses were checked (401), the rest waited (429); none was a 5xx.
  expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(11);
  expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(39);
  expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
  // A brand-new address waits with a Retry-After (slowed, not locked): the brute-force protection.
  const fresh = await login("alice", "correct horse", "192.0.2.77");
  expect(fresh.status).toBe(429);
  expect(Number(fresh.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(((await fresh.json()) as { error: { code: string } }).error.code).toBe("GW_ERR_LOGIN_THROTTLED");
  // Another account is untouched.
  expect((await login("bob", "correct horse", "192.0.2.78")).status).toBe(200);
}, 30_000);

test("one address guessing is slowed to the sustained rate, then gets in after Retry-After; other addresses unaffected", async () => {
  const ip = "198.51.100.50";
  for (let i = 0; i < 3; i++) expect((await login("bob", `nope-${i}`, ip)).status).toBe(401);
  const slowed = await login("bob", "correct horse", ip);
  expect(slowed.status).toBe(429);
  const wait = Number(slowed.headers.get("retry-after"));
  expect(wait).toBeGreaterThanOrEqual(1);
  expect(wait).toBeLessThanOrEqual(2);
  // Spoofing another X-Forwarded-For hop does not reset the pair: the trusted proxy's last hop is the client.
  expect((await login("bob", "correct horse", `10.9.9.9, ${ip}`)).status).toBe(429);
  expect((await login("bob", "correct horse", "198.51.100.51")).status).toBe(200);
  await Bun.sleep(wait * 1000 + 50);
  expect((await login("bob", "correct horse", ip)).status).toBe(200);
}, 20_000);
