/**
 * Who may call what. The administrator presents the admin token (SECURITY_ADMIN_TOKEN, or the one
 * written once to <data_dir>/security/admin-token, 0600). A service presents a token minted for it: it
 * may read its own credentials, mint its own tokens, validate tokens, and use secrets under
 * services/<name>/ — plus what `services.<name>` grants in config.
 *
 * With platform mTLS a service may instead be known by its client certificate: a caller without a token
 * whose certificate (checked by the host's TLS front, revocation included) carries
 * spiffe://<trust_domain>/service/<name> acts as that service, with the scopes its grant lists.
 * A token, when present, decides (it is the more specific credential).
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "./crypto-box";
import { SecErrors } from "./errors";
import type { SecurityConfig, ServiceGrantConfig } from "./schema";
import type { TokenService } from "./tokens/service";

export type Principal =
  | { kind: "admin"; id: string }
  | { kind: "service"; id: string; service: string; scopes: readonly string[]; grant?: ServiceGrantConfig };

export function loadAdminToken(configured: string, file: string): { token: string; source: "env" | "file" | "created" } {
  if (configured) return { token: configured, source: "env" };
  if (existsSync(file)) return { token: readFileSync(file, "utf8").trim(), source: "file" };
  const token = `tps_${randomBytes(32).toString("base64url")}`;
  writeFileAtomic(file, token + "\n", 0o600);
  return { token, source: "created" };
}

export interface Authorizer {
  authenticate(authorization: string | null, vaultToken?: string | null, peerId?: string): Principal;
  canReadCredentials(p: Principal, service: string): boolean;
  canIssueCredentials(p: Principal, service: string): boolean;
  canMintToken(p: Principal, service: string): boolean;
  canReadSecret(p: Principal, path: string): boolean;
  canWriteSecret(p: Principal, path: string): boolean;
  /** Scopes a service may hold (config or default_scopes); undefined when unknown under strict_services. */
  allowedScopes(service: string): readonly string[] | undefined;
}

/** Prefix match on whole segments: "services/a" grants services/a/..., not services/ab/... */
const under = (path: string, prefix: string) => path.startsWith(prefix.endsWith("/") ? prefix : prefix + "/");

export function createAuthorizer(cfg: SecurityConfig, adminToken: string, tokens: () => TokenService | undefined): Authorizer {
  // Compared as UTF-16 code units without an early exit (a Buffer per call was ~0.5 µs of every authenticated request).
  const isAdminToken = (t: string) => {
    if (t.length !== adminToken.length) return false;
    let diff = 0;
    for (let i = 0; i < t.length; i++) diff |= t.charCodeAt(i) ^ adminToken.charCodeAt(i);
    return diff === 0;
  };
  const grantOf = (service: string) => cfg.services[service];
  const certPrefix = `spiffe://${cfg.trust_domain}/service/`;

  const self = (p: Principal, service: string) => p.kind === "admin" || (p.kind === "service" && (p.service === service || p.grant?.admin === true));

  return {
    authenticate(authorization, vaultToken, peerId) {
      let token = vaultToken ?? undefined;
      if (!token && authorization) {
        if (!authorization.startsWith("Bearer ")) throw SecErrors.SEC_ERR_UNAUTHENTICATED("Authorization must be 'Bearer <token>'");
        token = authorization.slice(7).trim();
      }
      if (!token && peerId?.startsWith(certPrefix)) {
        const service = peerId.slice(certPrefix.length);
        if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(service)) throw SecErrors.SEC_ERR_UNAUTHENTICATED(`the client certificate's SPIFFE ID ${peerId} names no service`);
        const scopes = this.allowedScopes(service);
        if (scopes === undefined) throw SecErrors.SEC_ERR_UNKNOWN_SERVICE(`service "${service}" (client certificate) is not listed and strict_services is on`);
        const grant = grantOf(service);
        if (grant?.admin) return { kind: "admin", id: `cert:${service}` };
        return { kind: "service", id: `cert:${service}`, service, scopes, grant };
      }
      if (!token) throw SecErrors.SEC_ERR_UNAUTHENTICATED();
      if (isAdminToken(token)) return { kind: "admin", id: "admin" };
      const svc = tokens();
      if (!svc) throw SecErrors.SEC_ERR_BAD_TOKEN("not the admin token (service tokens are disabled)");
      const v = svc.validate(token);
      if (!v.valid) throw SecErrors.SEC_ERR_BAD_TOKEN(`bearer token refused: ${v.reason}`);
      const service = v.claims.sub;
      const grant = grantOf(service);
      if (grant?.admin) return { kind: "admin", id: `service:${service}` };
      return { kind: "service", id: `service:${service}`, service, scopes: v.claims.scopes ?? [], grant };
    },
    canReadCredentials(p, service) {
      return self(p, service) || (p.kind === "service" && (p.grant?.credentials?.includes(service) ?? false));
    },
    canIssueCredentials: self,
    canMintToken: self,
    canReadSecret(p, path) {
      if (p.kind === "admin") return true;
      if (under(path, `services/${p.service}/`)) return true;
      return (p.grant?.secrets_read ?? []).some((pre) => under(path, pre)) || (p.grant?.secrets_write ?? []).some((pre) => under(path, pre));
    },
    canWriteSecret(p, path) {
      if (p.kind === "admin") return true;
      if (under(path, `services/${p.service}/`)) return true;
      return (p.grant?.secrets_write ?? []).some((pre) => under(path, pre));
    },
    allowedScopes(service) {
      const g = grantOf(service);
      if (g) return g.scopes ?? [];
      return cfg.strict_services ? undefined : cfg.default_scopes;
    },
  };
}
