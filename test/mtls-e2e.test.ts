/**
 * Zero-trust mode end to end (issue 14, "Done when" 1): the whole platform from the shipped config.yaml
 * with ENABLE_MTLS=true, as a child process (free ports through the config's port variables, a temp
 * DATA_DIR, the trading example backend on 9001/9002). Every certificate is checked by real tools:
 * `openssl s_client` / `openssl verify` and `curl --cert/--key/--cacert`.
 *
 * Flows: a service's credentials issued; its ES256 token (JWKS fetched by the gateway over mTLS) accepted
 * on the auth_required trading route; an event published through the gateway's /api/events (the gateway
 * → events hop upgraded to mTLS); a breaker read and reset; the typed clients unchanged; clients without
 * a certificate refused on every port.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startPlatform, PORT_VARS, type Platform } from "./support/doctest/platform";

const ROOT = join(import.meta.dir, "..");
const PROBE = join(import.meta.dir, "support", "client-env-probe.ts");
let p: Platform;
let pki: string;
let admin: string;
/** The platform's operator material (the host's certificate) and a service's own credentials. */
let host: { cert: string; key: string; ca: string };
let svc: { cert: string; key: string };

/** Live port of a documented one (8000 gateway, 8009 security, 8011 events, 8012 breaker, 8013 falco). */
const port = (documented: number) => Number(p.mapPorts(`127.0.0.1:${documented}`).split(":")[1]);
const url = (documented: number, path: string) => `https://127.0.0.1:${port(documented)}${path}`;

async function run(cmd: string[], stdin?: string, env?: Record<string, string>) {
  const proc = Bun.spawn(cmd, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe", ...(env ? { env } : {}) });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { out, err, code };
}

/** curl with TLS verified against the platform CA; `as` picks the client certificate (none: no certificate). */
async function curl(target: string, opts: { as?: { cert: string; key: string }; method?: string; json?: unknown; bearer?: string } = {}) {
  const args = ["curl", "-sS", "--max-time", "10", "--cacert", host.ca, "-w", "\n%{http_code}", "-X", opts.method ?? (opts.json ? "POST" : "GET")];
  if (opts.as) args.push("--cert", opts.as.cert, "--key", opts.as.key);
  if (opts.bearer) args.push("-H", `authorization: Bearer ${opts.bearer}`);
  if (opts.json !== undefined) args.push("-H", "content-type: application/json", "--data-binary", JSON.stringify(opts.json));
  const r = await run([...args, target]);
  const nl = r.out.lastIndexOf("\n");
  const body = r.out.slice(0, nl);
  let json: any;
  try { json = JSON.parse(body); } catch { /* not JSON */ }
  return { code: r.code, status: Number(r.out.slice(nl + 1)), body, json, err: r.err };
}

/** openssl s_client: the handshake, the verification of the server certificate, and one GET /health. */
function sClient(documented: number, withCert: boolean) {
  const args = ["openssl", "s_client", "-connect", `127.0.0.1:${port(documented)}`, "-CAfile", host.ca, "-verify_return_error", "-brief", "-ign_eof"];
  if (withCert) args.push("-cert", host.cert, "-key", host.key);
  return run(args, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

/** One TLS connection with a client certificate; get() sends GET /health on it and returns what came back ("" once closed). */
async function keepAlive(livePort: number, as: { cert: string; key: string }) {
  let got = "";
  let closed = false;
  let wake: (() => void) | undefined;
  let shook!: () => void;
  const handshake = new Promise<void>((r) => { shook = r; });
  const socket = await Bun.connect({
    hostname: "127.0.0.1", port: livePort,
    tls: { cert: readFileSync(as.cert, "utf8"), key: readFileSync(as.key, "utf8"), ca: readFileSync(host.ca, "utf8") },
    socket: { handshake() { shook(); }, data(_s, d) { got += d.toString(); wake?.(); }, close() { closed = true; wake?.(); }, error() { closed = true; wake?.(); } },
  });
  await handshake; // Bun's client drops what is written before its handshake completes
  return {
    async get(): Promise<string> {
      got = "";
      if (closed) return "";
      socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      const until = Date.now() + 3000;
      while (!closed && !/\r\n\r\n[\s\S]*\}/.test(got) && Date.now() < until) await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
      return got;
    },
  };
}

beforeAll(async () => {
  p = await startPlatform(ROOT, { ENABLE_MTLS: "true" });
  pki = join(p.dir, "data", "security");
  host = { cert: join(pki, "host.pem"), key: join(pki, "host.key"), ca: join(pki, "ca.pem") };
  admin = readFileSync(join(pki, "admin-token"), "utf8").trim();
}, 60_000);
afterAll(async () => { await p?.stop(); });

describe("ENABLE_MTLS=true, shipped config.yaml", () => {
  test("every listener presents a certificate openssl verifies against the platform CA, and requires one from the client", async () => {
    for (const documented of Object.keys(PORT_VARS).map(Number)) {
      const ok = await sClient(documented, true);
      expect(ok.err, `port ${documented}`).toContain("Verification: OK");
      expect(ok.out, `port ${documented}`).toContain("HTTP/1.1 200");
      const refused = await sClient(documented, false);
      expect(refused.err, `port ${documented}`).toMatch(/alert certificate required|handshake failure/);
      expect(refused.out).not.toContain("HTTP/1.1");
    }
  }, 60_000);

  test("a service's credentials are issued: openssl verifies them, SPIFFE ID in the SAN", async () => {
    const r = await curl(url(8009, "/credentials/trading_service"), { as: host, method: "POST", bearer: admin });
    expect(r.status, r.body).toBe(201);
    svc = { cert: join(p.dir, "svc.pem"), key: join(p.dir, "svc.key") };
    writeFileSync(svc.cert, r.json.chain);
    writeFileSync(svc.key, r.json.private_key, { mode: 0o600 });
    const verify = await run(["openssl", "verify", "-CAfile", host.ca, svc.cert]);
    expect(verify.out).toContain(": OK");
    const san = await run(["openssl", "x509", "-in", svc.cert, "-noout", "-ext", "subjectAltName"]);
    expect(san.out).toContain("URI:spiffe://tradpal.local/service/trading_service");
  });

  test("its token is accepted by the gateway on an auth_required route (ES256, JWKS fetched over mTLS)", async () => {
    const minted = await curl(url(8009, "/tokens/trading_service"), { as: svc, json: { scopes: ["trade"] }, bearer: admin });
    expect(minted.status, minted.body).toBe(201);
    const ok = await curl(url(8000, "/api/trading/orders/1"), { as: svc, bearer: minted.json.token });
    expect(ok.status, ok.body).toBe(200);
    expect(ok.json).toMatchObject({ service: "trading", path: "/orders/1" });
    const missing = await curl(url(8000, "/api/trading/orders/1"), { as: svc });
    expect(missing.status).toBe(401);
    expect(missing.json.error.code).toBe("GW_ERR_AUTH_MISSING");
    const health = await curl(url(8000, "/health"), { as: svc });
    expect(health.status, health.body).toBe(200);
    expect(health.json.checks.edge.auth.jwks).toMatchObject({ url: `https://127.0.0.1:${port(8009)}/.well-known/jwks.json`, loaded: true });
    // Every plugin's /health tells its TLS state: the host certificate, the CA, the live CRL.
    expect(health.json.tls).toMatchObject({ certificate: { spiffe_id: "spiffe://tradpal.local/host" }, ca: { subject: expect.stringContaining("TradPal") }, revocation: { crl: join(pki, "crl.pem") } });
  });

  test("an event published through the gateway's /api/events (gateway → events over mTLS) is stored and read back", async () => {
    const id = crypto.randomUUID();
    const pub = await curl(url(8000, "/api/events"), { as: svc, json: { type: "custom.mtls_e2e", payload: { id } } });
    expect(pub.status, pub.body).toBeLessThan(300);
    const read = await curl(url(8000, "/api/events?type=custom.mtls_e2e"), { as: svc });
    expect(read.status, read.body).toBe(200);
    expect(JSON.stringify(read.json)).toContain(id);
  });

  test("a breaker read and reset on the breaker's port", async () => {
    const read = await curl(url(8012, "/circuit-breakers/trading"), { as: svc });
    expect(read.status, read.body).toBe(200);
    expect(read.json).toMatchObject({ name: "trading" });
    const reset = await curl(url(8012, "/circuit-breakers/trading/reset"), { as: svc, method: "POST" });
    expect(reset.status, reset.body).toBe(200);
    expect(reset.json.state).toBe("closed");
  });

  test("the typed clients work unchanged with the platform's environment (ENABLE_MTLS=true) and with a service's TRADPAL_TLS_*", async () => {
    for (const extra of <Record<string, string>[]>[{}, { TRADPAL_TLS_CERT: svc.cert, TRADPAL_TLS_KEY: svc.key, TRADPAL_TLS_CA: host.ca }]) {
      const r = await run([process.execPath, PROBE], undefined, { ...p.env, ...extra });
      expect(r.code, r.err).toBe(0);
      const seen = JSON.parse(r.out.trim().split("\n").at(-1)!);
      expect(seen.security.ok, JSON.stringify(seen)).toEqual({ baseUrl: url(8009, ""), valid: true });
      expect(seen.events.ok.delivered).toBe(seen.events.ok.published);
      expect(seen.breaker.ok).toEqual({ baseUrl: url(8012, ""), forced: "forced_open" });
    }
  }, 30_000);

  test("a client without a certificate is refused on every port; plain http gets no answer", async () => {
    for (const documented of Object.keys(PORT_VARS).map(Number)) {
      const r = await curl(url(documented, "/health"));
      expect(r.code, `port ${documented}`).not.toBe(0);
      expect(r.status).toBe(0);
      const plain = await run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${port(documented)}/health`]);
      expect(plain.out).toBe("000");
    }
  });

  test("a certificate revoked at the security plugin is refused by every listener within 5 s, no restart", async () => {
    const ports = Object.keys(PORT_VARS).map(Number);
    for (const documented of ports) expect((await curl(url(documented, "/health"), { as: svc })).status).toBe(200);
    // A kept-alive connection opened before the revocation (closed at its next request, below).
    const kept = await keepAlive(port(8000), svc);
    expect(await kept.get()).toContain("HTTP/1.1 200");
    const t0 = performance.now();
    const revoke = await curl(url(8009, "/credentials/trading_service/revoke"), { as: host, method: "POST", bearer: admin });
    expect(revoke.status, revoke.body).toBe(200);
    const refusedAt = new Map<number, number>();
    while (refusedAt.size < ports.length && performance.now() - t0 < 5000) {
      for (const documented of ports) {
        if (refusedAt.has(documented)) continue;
        const r = await curl(url(documented, "/health"), { as: svc });
        if (r.status === 0) refusedAt.set(documented, performance.now() - t0);
      }
    }
    expect([...refusedAt.keys()].sort()).toEqual(ports.sort());
    const crl = await run(["openssl", "crl", "-in", join(pki, "crl.pem"), "-noout", "-text"]);
    const serial = (await run(["openssl", "x509", "-in", svc.cert, "-noout", "-serial"])).out.trim().split("=")[1];
    expect(crl.out.replace(/\s/g, "")).toContain(serial.replace(/^0+/, ""));
    expect(await kept.get()).toBe(""); // the kept-alive connection: closed, no answer
    // The platform's own certificate still passes everywhere.
    for (const documented of ports) expect((await curl(url(documented, "/health"), { as: host })).status).toBe(200);
    console.log(`revocation → refused at the handshake: ${[...refusedAt].map(([p, ms]) => `${p} ${ms.toFixed(0)} ms`).join(", ")}`);
  }, 30_000);
});
