/**
 * JwksKeys against a real HTTP server that is down first and up later: the case of a gateway that
 * starts before the security plugin (a race the two-host test lost under load).
 */
import { afterEach, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { createLogger } from "../../../src/core/log";
import { JwksKeys } from "./jwks";

const log = createLogger({ level: "error" });
const jwk = { ...(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" }) as object), kid: "k1", use: "sig", alg: "ES256" };
let server: ReturnType<typeof Bun.serve> | undefined;
let keys: JwksKeys | undefined;
afterEach(() => { keys?.stop(); server?.stop(true); });

function jwksServer(downFor: number) {
  let calls = 0;
  server = Bun.serve({ port: 0, fetch: () => (++calls <= downFor ? new Response("starting", { status: 503 }) : Response.json({ keys: [jwk] })) });
  return { url: `http://127.0.0.1:${server.port}/jwks`, calls: () => calls };
}

test("a failed first fetch is retried in the background: keys arrive without any request and long before the periodic refresh", async () => {
  const s = jwksServer(2);
  keys = new JwksKeys({ url: s.url, refreshMs: 300_000, minRefetchMs: 5_000, log });
  await keys.start();
  expect(keys.ready).toBe(false);
  const deadline = Date.now() + 5_000;
  while (!keys.ready && Date.now() < deadline) await Bun.sleep(25);
  expect(keys.ready).toBe(true);
  expect(keys.lookup("k1")?.alg).toBe("ES256");
  expect(s.calls()).toBe(3); // 503, retry 503, retry 200 — then quiet
  await Bun.sleep(600);
  expect(s.calls()).toBe(3);
});

test("while the last fetch failed, an unknown kid may re-fetch after the short floor, not minRefetchMs", async () => {
  const s = jwksServer(1);
  keys = new JwksKeys({ url: s.url, refreshMs: 300_000, minRefetchMs: 60_000, log });
  await keys.start();
  expect(keys.ready).toBe(false);
  await Bun.sleep(260);
  // the background retry may already have loaded them; either way a request now finds the key
  if (!keys.ready) expect(await keys.refetchForUnknownKid()).toBe(true);
  expect(keys.lookup("k1")).toBeDefined();
});

test("after a successful load, unknown kids are held to minRefetchMs (no fetch amplification)", async () => {
  const s = jwksServer(0);
  keys = new JwksKeys({ url: s.url, refreshMs: 300_000, minRefetchMs: 60_000, log });
  await keys.start();
  expect(keys.ready).toBe(true);
  const results = await Promise.all(Array.from({ length: 50 }, () => keys!.refetchForUnknownKid()));
  expect(results.every((r) => r === false)).toBe(true);
  expect(s.calls()).toBe(1);
});

test("stop() cancels a pending retry", async () => {
  const s = jwksServer(1_000_000);
  keys = new JwksKeys({ url: s.url, refreshMs: 300_000, minRefetchMs: 5_000, log });
  await keys.start();
  keys.stop();
  const n = s.calls();
  await Bun.sleep(700);
  expect(s.calls()).toBe(n);
});
