/**
 * Who may change the gateway's routing at run time. A caller presents either the platform admin
 * token (`registration.admin_token`, else the security plugin's <data_dir>/security/admin-token),
 * compared in constant time, or a token the edge verifies exactly as it verifies proxied requests
 * (edge-policy/contract.ts `authenticate`: ES256 from the security plugin's JWKS, the gateway's HS256, or
 * an API key). The token's scopes decide what it may change (see `grants`).
 */
import { timingSafeEqual, createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { EdgePolicy, Principal } from "./edge-policy/contract";
import { GatewayErrors } from "./errors";

export interface Caller {
  /** Audit identity: "admin-token", "jwt:<sub>", "api_key:<name>". */
  who: string;
  admin: boolean;
  scopes: ReadonlySet<string>;
}

/** Scopes that grant a change: `admin` grants all; `register:<service>` / `register:*` instances; `services:write` runtime services. */
export function grants(c: Caller, need: { register: string } | "services:write"): boolean {
  if (c.admin || c.scopes.has("admin")) return true;
  if (need === "services:write") return c.scopes.has("services:write");
  return c.scopes.has("register:*") || c.scopes.has(`register:${need.register}`);
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** The admin token: configured, or the security plugin's file (read again when it changes). */
function adminTokenSource(configured: string, dataDir: string): () => Buffer | undefined {
  if (configured) { const d = digest(configured); return () => d; }
  const file = join(dataDir, "security", "admin-token");
  let seen = -1, cached: Buffer | undefined;
  return () => {
    try {
      if (!existsSync(file)) return undefined;
      const m = statSync(file).mtimeMs;
      if (m !== seen) {
        const t = readFileSync(file, "utf8").trim();
        cached = t.length >= 16 ? digest(t) : undefined; // a short file is not a credential
        seen = m;
      }
      return cached;
    } catch { return undefined; }
  };
}

const THROTTLE_MS = 5000;

export type AdminAuth = (req: Request, clientIp: string) => Promise<Caller>;

/** Resolve the caller, or throw the coded 401 (no credential, or one that does not verify). */
export function createAdminAuth(o: { adminToken: string; dataDir: string; policy?: Pick<EdgePolicy, "authenticate"> }): AdminAuth {
  const admin = adminTokenSource(o.adminToken, o.dataDir);
  // The edge's failure gate (auth_failures_per_ip) throttles bad tokens; while it does for an address,
  // that address's admin-token guesses are not compared either.
  const throttledUntil = new Map<string, number>();
  return async (req, clientIp) => {
    const authz = req.headers.get("authorization");
    const bearer = authz !== null && /^bearer /i.test(authz) ? authz.slice(7).trim() : undefined;
    if (bearer === undefined && req.headers.get("x-api-key") === null) {
      throw GatewayErrors.GW_ERR_UNAUTHENTICATED("this endpoint changes routing: present the admin token or a token with a register scope (Authorization: Bearer ...)", "headers.authorization", undefined, { "www-authenticate": 'Bearer realm="tradpal-gateway-admin"' });
    }
    const now = Date.now();
    const blocked = (throttledUntil.get(clientIp) ?? 0) > now;
    if (bearer !== undefined && !blocked) {
      const want = admin();
      // Equal-length digests: timingSafeEqual leaks neither content nor length of the token.
      if (want !== undefined && timingSafeEqual(digest(bearer), want)) return { who: "admin-token", admin: true, scopes: new Set() };
    }
    const r = o.policy?.authenticate ? await o.policy.authenticate(req, clientIp) : "no_verifier";
    if (r === "throttled") {
      if (throttledUntil.size >= 10_000) throttledUntil.clear();
      throttledUntil.set(clientIp, now + THROTTLE_MS);
      throw GatewayErrors.GW_ERR_ADMIN_THROTTLED(`too many failed credentials from this address; retry in ${THROTTLE_MS / 1000}s`, "headers.authorization", undefined, { "retry-after": String(THROTTLE_MS / 1000) });
    }
    if (typeof r === "string") {
      throw GatewayErrors.GW_ERR_UNAUTHENTICATED(`the credential was not accepted (${r})`, "headers.authorization", undefined, { "www-authenticate": 'Bearer realm="tradpal-gateway-admin", error="invalid_token"' });
    }
    return callerOf(r);
  };
}

function callerOf(p: Principal): Caller {
  return { who: `${p.via === "api_key" ? "api_key" : "jwt"}:${p.subject}`, admin: false, scopes: new Set(p.scopes) };
}
