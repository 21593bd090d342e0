/** GET /ca/certificate, GET /ca/crl (public by default), GET /audit (admin; pages through the log). */
import { Elysia } from "elysia";
import { SecErrors } from "../errors";
import { audit, authenticate, rid, type Deps } from "./deps";

export function adminRoutes(d: Deps) {
  const pub = (request: Request) => { if (!d.cfg.public_ca_and_jwks) authenticate(d, request); };
  return new Elysia({ name: "security:admin" })
    .get("/ca/certificate", ({ request, query, set }) => {
      pub(request);
      const ca = d.state.ca;
      if (query.format === "pem") {
        set.headers["content-type"] = "application/x-pem-file";
        return ca.rootPem;
      }
      return {
        certificate: ca.rootPem,
        chain: ca.intermediates,
        issuer_subject: ca.cert.subject,
        algorithm: ca.algorithm,
        not_after: ca.cert.notAfter.toISOString(),
        trust_domain: d.cfg.trust_domain,
      };
    })
    .get("/ca/crl", async ({ request, set }) => {
      pub(request);
      set.headers["content-type"] = "application/pkix-crl";
      return d.state.registry.crlPem(d.credentialSettings);
    })
    .get("/audit", ({ request, query, set }) => {
      const p = authenticate(d, request);
      if (p.kind !== "admin") {
        audit(d, p, { action: "audit.read", outcome: "denied", request_id: rid(set, request) });
        throw SecErrors.SEC_ERR_FORBIDDEN("only the administrator reads the audit log");
      }
      const after = query.after === undefined ? 0 : Number(query.after);
      const limit = query.limit === undefined ? 100 : Number(query.limit);
      if (!Number.isInteger(after) || after < 0) throw SecErrors.SEC_ERR_BAD_BODY("after must be a non-negative integer", "query.after");
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw SecErrors.SEC_ERR_BAD_BODY("limit must be 1..1000", "query.limit");
      return d.state.audit.page(after, limit);
    });
}
