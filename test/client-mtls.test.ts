/**
 * The typed clients under platform mTLS (issue 14, "Clients"): built without options in a process with the
 * platform's environment, they speak https and present the host's certificate when ENABLE_MTLS=true, or
 * the files/PEM named by TRADPAL_TLS_CERT/KEY/CA; bad TLS variables fail at construction (CLIENT_ERR_CONFIG).
 * The probe (test/support/client-env-probe.ts) runs as its own process: only its environment configures it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startHost, type TestHost } from "./support/harness";
import { runClientProbe } from "./support/client-probe";

let t: TestHost;
let svc: { cert: string; key: string; ca: string };

beforeAll(async () => {
  t = await startHost(`host:
  data_dir: \${DATA_DIR}
  log_level: warn
  bind: 127.0.0.1
  mtls:
    enabled: true
plugins:
  security: { port: 0, services: { trading_service: { scopes: [read] } } }
  events: { port: 0 }
  breaker: { port: 0, services: { trading: {} } }
`, { only: ["security", "events", "breaker"] });
  // A service's own credentials from the security plugin (what TRADPAL_TLS_* would name in a service's pod).
  const admin = readFileSync(join(t.dir, "data", "security", "admin-token"), "utf8").trim();
  const res = await fetch(`${t.url("security")}/credentials/trading_service`, { method: "POST", headers: { authorization: `Bearer ${admin}` }, tls: t.host.clientTls! });
  const creds = (await res.json()) as { chain: string; private_key: string; ca: string };
  svc = { cert: join(t.dir, "svc.pem"), key: join(t.dir, "svc.key"), ca: join(t.dir, "ca.pem") };
  writeFileSync(svc.cert, creds.chain);
  writeFileSync(svc.key, creds.private_key, { mode: 0o600 });
  writeFileSync(svc.ca, creds.ca);
}, 60_000);
afterAll(async () => { await t?.stop(); });

const probe = (extra: Record<string, string> = {}) => runClientProbe(t, extra);

const expectAllOk = (r: Record<string, any>) => {
  expect(r.security.ok).toEqual({ baseUrl: t.url("security"), valid: true });
  expect(r.security.ok.baseUrl).toStartWith("https://");
  expect(r.events.ok.baseUrl).toBe(t.url("events"));
  expect(r.events.ok.delivered).toBe(r.events.ok.published);
  expect(r.breaker.ok).toEqual({ baseUrl: t.url("breaker"), forced: "forced_open" });
};

test("ENABLE_MTLS=true: every client uses https and the host's certificate from DATA_DIR, unchanged code", async () => {
  expectAllOk(await probe({ ENABLE_MTLS: "true" }));
}, 30_000);

test("TRADPAL_TLS_CERT/KEY/CA as files (a service's own credentials) work without ENABLE_MTLS", async () => {
  expectAllOk(await probe({ TRADPAL_TLS_CERT: svc.cert, TRADPAL_TLS_KEY: svc.key, TRADPAL_TLS_CA: svc.ca }));
}, 30_000);

test("TRADPAL_TLS_* as PEM text works too", async () => {
  const pem = (f: string) => readFileSync(f, "utf8");
  expectAllOk(await probe({ TRADPAL_TLS_CERT: pem(svc.cert), TRADPAL_TLS_KEY: pem(svc.key), TRADPAL_TLS_CA: pem(svc.ca) }));
}, 30_000);

test("without TLS settings the clients cannot reach an mTLS platform (no answer, coded)", async () => {
  const r = await probe({});
  expect(r.breaker.error).toBe("CLIENT_ERR_UNREACHABLE");
  expect(r.events.error).toBe("CLIENT_ERR_UNREACHABLE");
}, 30_000);

test("bad TLS variables fail at construction with CLIENT_ERR_CONFIG", async () => {
  for (const extra of <Record<string, string>[]>[
    { TRADPAL_TLS_CERT: svc.cert },                                              // a certificate without its key
    { TRADPAL_TLS_CERT: "/nonexistent.pem", TRADPAL_TLS_KEY: svc.key },          // a file that is not there
    { ENABLE_MTLS: "maybe" },                                                    // not a boolean
    { ENABLE_MTLS: "true", DATA_DIR: join(t.dir, "nowhere") },                   // no platform files
  ]) {
    const r = await probe(extra);
    for (const c of ["security", "events", "breaker"]) expect(r[c].error, `${c} with ${JSON.stringify(extra)}`).toBe("CLIENT_ERR_CONFIG");
  }
}, 60_000);

/** curl (async: the host runs in this process) with a client certificate and no token. */
async function curlAs(cert: { cert: string; key: string } | undefined, method: string, url: string, json?: unknown) {
  const args = ["curl", "-sS", "--max-time", "5", "--cacert", svc.ca, "-X", method, "-w", "\n%{http_code}"];
  if (cert) args.push("--cert", cert.cert, "--key", cert.key);
  if (json !== undefined) args.push("-H", "content-type: application/json", "--data-binary", JSON.stringify(json));
  const p = Bun.spawn([...args, url], { stdout: "pipe", stderr: "pipe" });
  const [out] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  const nl = out.lastIndexOf("\n");
  const body = out.slice(0, nl);
  return { status: Number(out.slice(nl + 1)), json: body ? JSON.parse(body) : undefined };
}

test("the security plugin authorises a service by its client certificate's SPIFFE ID when no token is sent", async () => {
  const base = t.url("security");
  const own = await curlAs(svc, "GET", `${base}/credentials/trading_service`);
  expect(own.status).toBe(200);
  expect(own.json.spiffe_id).toBe("spiffe://tradpal.local/service/trading_service");
  expect((await curlAs(svc, "PUT", `${base}/secrets/services/trading_service/db`, { data: { password: "p" } })).status).toBe(200);
  expect((await curlAs(svc, "GET", `${base}/secrets/services/trading_service/db`)).json.data).toEqual({ password: "p" });
  // The hot endpoints (answered on the host's raw lane, identity from the front's client.peerId) know the certificate too.
  const foreign = await curlAs(svc, "GET", `${base}/secrets/services/payments/db`);
  expect([foreign.status, foreign.json.error.code]).toEqual([403, "SEC_ERR_FORBIDDEN"]);
  expect((await curlAs(svc, "POST", `${base}/tokens/validate`, { token: "a.b.c" })).json.valid).toBe(false);
  const audited = readFileSync(join(t.dir, "data", "security", "audit.log"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  expect(audited.filter((e) => e.who === "cert:trading_service").map((e) => `${e.action} ${e.outcome}`)).toEqual(expect.arrayContaining(["secret.read ok", "secret.read denied", "token.validate invalid"]));
  const other = await curlAs(svc, "GET", `${base}/credentials/payments`);
  expect(other.status).toBe(403);
  expect(other.json.error.code).toBe("SEC_ERR_FORBIDDEN");
  // The host's certificate names no service: no principal without a token.
  const pki = join(t.dir, "data", "security");
  const asHost = await curlAs({ cert: join(pki, "host.pem"), key: join(pki, "host.key") }, "GET", `${base}/credentials/trading_service`);
  expect(asHost.status).toBe(401);
  expect(asHost.json.error.code).toBe("SEC_ERR_UNAUTHENTICATED");
});
