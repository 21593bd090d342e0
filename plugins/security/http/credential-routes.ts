/** POST/GET /credentials/:service, POST /credentials/:service/revoke. */
import { Elysia } from "elysia";
import { SecErrors } from "../errors";
import { assertServiceName } from "../paths";
import { audit, authenticate, rid, type Deps } from "./deps";
import type { IssuedCredential } from "../credentials/credential-store";
import type { Principal } from "../authz";

function view(d: Deps, c: IssuedCredential, withKey: boolean) {
  const { private_key, ...pub } = c;
  return { ...pub, ca: d.state.ca.rootPem, ...(withKey ? { private_key } : {}) };
}

function guardedPrincipal(d: Deps, request: Request, service: string, action: string, requestId: string, allowed: (p: Principal) => boolean): Principal {
  let p: Principal;
  try {
    p = authenticate(d, request);
  } catch (err) {
    audit(d, undefined, { action, target: service, outcome: "denied", request_id: requestId, reason: (err as Error).message });
    throw err;
  }
  if (!allowed(p)) {
    audit(d, p, { action, target: service, outcome: "denied", request_id: requestId });
    throw SecErrors.SEC_ERR_FORBIDDEN(`${p.id} may not ${action.replace("credentials.", "")} credentials of ${service}`);
  }
  return p;
}

export function credentialRoutes(d: Deps) {
  return new Elysia({ name: "security:credentials" })
    .post("/credentials/:service", async ({ params, request, set }) => {
      const service = assertServiceName(params.service);
      const requestId = rid(set, request);
      const p = guardedPrincipal(d, request, service, "credentials.issue", requestId, (p) => d.authz.canIssueCredentials(p, service));
      if (d.authz.allowedScopes(service) === undefined) throw SecErrors.SEC_ERR_UNKNOWN_SERVICE(`service ${service} is not listed (strict_services)`);
      const cred = await d.state.registry.issue(service, d.credentialSettings);
      audit(d, p, { action: "credentials.issue", target: service, outcome: "ok", request_id: requestId, reason: `serial ${cred.serial}` });
      set.status = 201;
      return view(d, cred, true);
    })
    .get("/credentials/:service", ({ params, request, set }) => {
      const service = assertServiceName(params.service);
      const requestId = rid(set, request);
      const p = guardedPrincipal(d, request, service, "credentials.read", requestId, (p) => d.authz.canReadCredentials(p, service));
      const cur = d.state.registry.current(service);
      if (!cur) {
        audit(d, p, { action: "credentials.read", target: service, outcome: "error", request_id: requestId, reason: "none issued" });
        throw SecErrors.SEC_ERR_NOT_FOUND(`no valid credentials for ${service}: POST /credentials/${service} issues them`);
      }
      // The private key goes to the service itself only (not to the admin, not to a granted reader).
      const own = p.kind === "service" && p.service === service;
      const prev = d.state.registry.previous(service);
      audit(d, p, { action: "credentials.read", target: service, outcome: "ok", request_id: requestId });
      return { ...view(d, cur, own), ...(prev ? { previous: view(d, prev, false) } : {}) };
    })
    .post("/credentials/:service/revoke", async ({ params, request, set, body }) => {
      const service = assertServiceName(params.service);
      const requestId = rid(set, request);
      const p = guardedPrincipal(d, request, service, "credentials.revoke", requestId, (p) => p.kind === "admin");
      const serial = body && typeof body === "object" && typeof (body as any).serial === "string" ? ((body as any).serial as string) : undefined;
      if (serial !== undefined && !/^[0-9a-fA-F]{1,40}$/.test(serial)) throw SecErrors.SEC_ERR_BAD_BODY("serial must be hex", "body.serial");
      const r = d.state.registry.revoke(service, serial);
      if (!r) {
        audit(d, p, { action: "credentials.revoke", target: service, outcome: "error", request_id: requestId, reason: "nothing to revoke" });
        throw SecErrors.SEC_ERR_NOT_FOUND(`no live certificate ${serial ?? ""} of ${service} to revoke`.replace("  ", " "));
      }
      await d.state.registry.publishCrl();
      audit(d, p, { action: "credentials.revoke", target: service, outcome: "ok", request_id: requestId, reason: `serial ${r.serial}` });
      d.bus.emit("platform.event", { type: "security.certificate.revoked", source: "security", payload: { service, serial: r.serial }, correlationId: requestId });
      return { revoked: r.serial, service, crl: "/ca/crl" };
    });
}
