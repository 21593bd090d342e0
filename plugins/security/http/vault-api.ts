/**
 * The Vault KV v2 HTTP shape served by this plugin, so existing Vault clients (node-vault, the vault CLI,
 * hvac) work against it: /v1/<mount>/data/<path> (GET ?version, POST/PUT { data, options.cas }, DELETE),
 * /v1/<mount>/{delete,undelete,destroy}/<path> (POST/PUT { versions } → 204; a missing path or version is a
 * no-op, as in Vault), /v1/<mount>/metadata/<path> (GET, GET ?list=true, DELETE),
 * GET /v1/sys/health. Auth: X-Vault-Token (admin token or a service token). Errors: { errors: [...] }.
 */
import { CodedError } from "../../../src/core/errors";
import { requestIdOf } from "../../../src/core/http";
import { decodePathParam } from "../paths";
import { checkedPath, opDeleteAll, opList, opMetadata, opRead, opVersions, opWrite, parseVersion, parseVersions } from "./secret-ops";
import { authenticate, type Deps } from "./deps";

/** The KV v2 operations served; any other name is audited (and counted) as secret.other, so a URL cannot mint metric labels. */
const KINDS = new Set(["data", "delete", "undelete", "destroy", "metadata"]);

const VAULT_STATUS: Record<string, number> = { SEC_ERR_UNAUTHENTICATED: 403, SEC_ERR_BAD_TOKEN: 403, SEC_ERR_CAS_MISMATCH: 400 };

function vaultError(status: number, message: string, requestId: string): Response {
  // Vault answers "not found" with an empty list: { "errors": [] }.
  return Response.json({ errors: message ? [message] : [] }, { status, headers: { "x-request-id": requestId } });
}

function wrap(data: unknown, requestId: string, status = 200): Response {
  return Response.json({ request_id: requestId, lease_id: "", renewable: false, lease_duration: 0, data, wrap_info: null, warnings: null, auth: null }, { status, headers: { "x-request-id": requestId } });
}

export function createVaultApi(d: Deps) {
  const mount = d.cfg.secrets.vault_api_mount;
  const prefix = `/v1/${mount}/`;
  return async function vaultApi(req: Request, pathname: string, query: URLSearchParams): Promise<Response> {
    const requestId = requestIdOf(req);
    if (pathname === "/v1/sys/health") return Response.json({ initialized: true, sealed: false, standby: false, version: "tradpal-security", server_time_utc: Math.floor(Date.now() / 1000) });
    if (!pathname.startsWith(prefix)) return vaultError(404, `no handler for route "${pathname.slice(4, 80)}": only the KV v2 mount "${mount}" is served`, requestId);
    const rest = pathname.slice(prefix.length);
    const slash = rest.indexOf("/");
    const kind = slash === -1 ? rest : rest.slice(0, slash);
    const raw = slash === -1 ? "" : rest.slice(slash + 1);
    try {
      const p = authenticate(d, req, { action: `secret.${KINDS.has(kind) ? kind : "other"}`, target: raw.slice(0, 256), requestId }, req.headers.get("x-vault-token"));
      const list = query.get("list") === "true" || query.get("list") === "1" || req.method === "LIST";
      if (kind === "metadata" && list && req.method !== "DELETE") {
        const pfx = raw.replace(/\/+$/, "");
        const keys = await opList(d, p, pfx === "" ? "" : checkedPath(d, decodePathParam(pfx)), requestId);
        return keys.length ? wrap({ keys }, requestId) : vaultError(404, "", requestId);
      }
      const path = checkedPath(d, decodePathParam(raw));
      const noContent = () => new Response(null, { status: 204, headers: { "x-request-id": requestId } });
      const write = req.method === "POST" || req.method === "PUT";
      if (kind === "data") {
        if (req.method === "GET") {
          const got = await opRead(d, p, path, parseVersion(query.get("version")), requestId);
          return wrap({ data: got.data, metadata: { ...got.metadata, custom_metadata: null } }, requestId);
        }
        if (write) {
          const text = await req.text();
          if (text.length > d.cfg.secrets.max_value_size + 1024) return vaultError(413, "request too large", requestId);
          let body: { data?: unknown; options?: { cas?: unknown } };
          try { body = JSON.parse(text); } catch { return vaultError(400, "failed to parse JSON input", requestId); }
          if (!body || typeof body !== "object" || body.data === undefined) return vaultError(400, "no data provided", requestId);
          const meta = await opWrite(d, p, path, body.data, body.options?.cas, requestId);
          return wrap({ ...meta, custom_metadata: null }, requestId);
        }
        if (req.method === "DELETE") {
          await opVersions(d, p, path, "delete", undefined, requestId, true);
          return noContent();
        }
      }
      if ((kind === "delete" || kind === "undelete" || kind === "destroy") && write) {
        const text = await req.text();
        if (text.length > 64 * 1024) return vaultError(413, "request too large", requestId);
        let body: { versions?: unknown } | null;
        try { body = text ? JSON.parse(text) : {}; } catch { return vaultError(400, "failed to parse JSON input", requestId); }
        const versions = parseVersions(body && typeof body === "object" ? body.versions : undefined);
        // Vault answers 204 also when the path or some versions do not exist (the audit line says which).
        await opVersions(d, p, path, kind, versions, requestId, true);
        return noContent();
      }
      if (kind === "metadata") {
        if (req.method === "GET") return wrap({ ...(await opMetadata(d, p, path, requestId)), cas_required: false, delete_version_after: "0s", custom_metadata: null }, requestId);
        if (req.method === "DELETE") {
          await opDeleteAll(d, p, path, requestId, true);
          return noContent();
        }
      }
      return vaultError(405, `unsupported operation ${req.method} on ${kind}`, requestId);
    } catch (err) {
      if (err instanceof CodedError) {
        // Vault answers a missing secret with an empty error list and 404; keep our message for the rest.
        // A deleted or destroyed version: 404 with data null and the version's metadata, as Vault answers it.
        const gone = (err.details as { metadata?: object } | undefined)?.metadata;
        if (err.status === 404 && gone) return wrap({ data: null, metadata: { ...gone, custom_metadata: null } }, requestId, 404);
        if (err.status === 404) return vaultError(404, "", requestId);
        return vaultError(VAULT_STATUS[err.code] ?? err.status, err.code === "SEC_ERR_CAS_MISMATCH" ? "check-and-set parameter did not match the current version" : `${err.code}: ${err.message}`, requestId);
      }
      d.log.error("vault api error", { err, requestId });
      return vaultError(500, "internal error", requestId);
    }
  };
}
