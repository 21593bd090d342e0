/**
 * The secret operations behind both HTTP shapes (/secrets/... and the Vault KV v2 /v1/secret/...):
 * path validation, authorization, audit (an HMAC of the value, never the value) and error mapping.
 */
import { SecErrors } from "../errors";
import { decodePathParam, validateSecretPath } from "../paths";
import { BackendError, CasMismatchError, type SecretLookup, type SecretMetadata, type SecretRead, type SecretVersionMeta } from "../secrets/store";
import type { Principal } from "../authz";
import { audit, auditReadOk, type Deps } from "./deps";

function mapStoreError(err: unknown): never {
  if (err instanceof CasMismatchError) throw SecErrors.SEC_ERR_CAS_MISMATCH(err.message, "cas", { current_version: err.current });
  if (err instanceof BackendError) throw err.unavailable ? SecErrors.SEC_ERR_BACKEND_UNAVAILABLE(err.message) : SecErrors.SEC_ERR_BACKEND(err.message);
  throw err;
}

export function checkedPath(d: Deps, raw: string): string {
  return validateSecretPath(raw, d.cfg.secrets.max_path_length);
}

/** Recently read raw (still percent-encoded) paths → canonical, per Deps (its max_path_length); only valid ones, bounded. */
const PATH_CACHE_MAX = 1024;
const pathCaches = new WeakMap<Deps, Map<string, string>>();

/**
 * decodePathParam + checkedPath, remembered: readers repeat their paths, and decoding and checking one
 * was ~5 % of a read's CPU. A refused path is never cached (it throws every time).
 */
export function pathFromRaw(d: Deps, raw: string): string {
  let cache = pathCaches.get(d);
  if (!cache) pathCaches.set(d, (cache = new Map()));
  const hit = cache.get(raw);
  if (hit !== undefined) return hit;
  const path = checkedPath(d, decodePathParam(raw));
  if (cache.size >= PATH_CACHE_MAX) cache.clear();
  cache.set(raw, path);
  return path;
}

function deny(d: Deps, p: Principal, action: string, path: string, requestId: string): never {
  audit(d, p, { action, target: path, outcome: "denied", request_id: requestId });
  throw SecErrors.SEC_ERR_FORBIDDEN(`${p.id} may not ${action.split(".")[1]} secrets at ${path}`, "path");
}

export function parseVersion(v: string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === "" || v === "0") return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(v)) throw SecErrors.SEC_ERR_BAD_BODY("version must be a positive integer", "query.version");
  return Number(v);
}

/** Authorise, look up and audit a read; without a promise when the store holds its versions in memory (peek). */
export function opRead(d: Deps, p: Principal, path: string, version: number | undefined, requestId: string): SecretRead | Promise<SecretRead> {
  if (!d.authz.canReadSecret(p, path)) deny(d, p, "secret.read", path, requestId);
  const store = d.store;
  if (store.peek) return readOutcome(d, p, path, version, requestId, store.peek(path, version));
  return store.get(path, version).then((got) => readOutcome(d, p, path, version, requestId, got), mapStoreError);
}

/** What the store found, audited: the lookup itself when it has data (kept whole: readers memoise by it), else a coded error. */
function readOutcome(d: Deps, p: Principal, path: string, version: number | undefined, requestId: string, got: SecretLookup | undefined): SecretRead {
  if (!got?.data) {
    const why = !got ? "not found" : got.metadata.destroyed ? "destroyed" : "deleted";
    audit(d, p, { action: "secret.read", target: path, outcome: "error", request_id: requestId, reason: got ? `version ${got.metadata.version} ${why}` : why });
    const at = `${path}${version ? ` version ${version}` : ""}`;
    // A deleted or destroyed version answers its metadata (as Vault does), so a client can tell it from a missing one.
    if (!got) throw SecErrors.SEC_ERR_NOT_FOUND(`no secret at ${at}`, "path");
    if (got.metadata.destroyed) throw SecErrors.SEC_ERR_VERSION_DESTROYED(`${at} version ${got.metadata.version} is destroyed`, "path", { metadata: got.metadata });
    throw SecErrors.SEC_ERR_VERSION_DELETED(`${at} version ${got.metadata.version} is deleted`, "path", { metadata: got.metadata });
  }
  auditReadOk(d, p, path, requestId, got.metadata.version);
  return got as SecretRead;
}

export async function opWrite(d: Deps, p: Principal, path: string, data: unknown, cas: unknown, requestId: string): Promise<SecretVersionMeta> {
  if (!d.authz.canWriteSecret(p, path)) deny(d, p, "secret.write", path, requestId);
  if (!data || typeof data !== "object" || Array.isArray(data)) throw SecErrors.SEC_ERR_BAD_BODY("data must be a JSON object of key/value pairs", "body.data");
  if (cas !== undefined && (typeof cas !== "number" || !Number.isInteger(cas) || cas < 0)) throw SecErrors.SEC_ERR_BAD_BODY("cas must be a non-negative integer", "body.cas");
  const json = JSON.stringify(data);
  if (Buffer.byteLength(json) > d.cfg.secrets.max_value_size) throw SecErrors.SEC_ERR_TOO_LARGE(`secret larger than ${d.cfg.secrets.max_value_size} bytes`, "body.data");
  try {
    const meta = await d.store.put(path, data as Record<string, unknown>, cas === undefined ? {} : { cas: cas as number });
    audit(d, p, { action: "secret.write", target: path, outcome: "ok", request_id: requestId, value_hmac: d.state.box.fingerprint(json), reason: `version ${meta.version}` });
    return meta;
  } catch (err) {
    audit(d, p, { action: "secret.write", target: path, outcome: "error", request_id: requestId, reason: (err as Error).name });
    return mapStoreError(err);
  }
}

const MAX_VERSIONS_PER_CALL = 1000;

/** `versions` as Vault takes it: [1, 2], ["1", "2"] or "1,2". Anything else, or none, is a 400. */
export function parseVersions(raw: unknown, where = "body.versions"): number[] {
  const items = typeof raw === "string" ? raw.split(",") : Array.isArray(raw) ? raw : undefined;
  if (!items || items.length === 0) throw SecErrors.SEC_ERR_BAD_BODY("no version number provided: versions must be a non-empty list of positive integers", where);
  if (items.length > MAX_VERSIONS_PER_CALL) throw SecErrors.SEC_ERR_BAD_BODY(`at most ${MAX_VERSIONS_PER_CALL} versions per call`, where);
  const out = new Set<number>();
  for (const v of items) {
    const n = typeof v === "number" ? v : typeof v === "string" && /^\s*[1-9][0-9]{0,8}\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 999_999_999) throw SecErrors.SEC_ERR_BAD_BODY("versions must be positive integers", where);
    out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

export type VersionAction = "delete" | "undelete" | "destroy";

/**
 * Soft-delete (the latest when `versions` is undefined), undelete or destroy versions. Absent versions are
 * skipped, as Vault does. A missing path: false with `missingOk` (Vault answers 204), else 404.
 */
export async function opVersions(d: Deps, p: Principal, path: string, action: VersionAction, versions: number[] | undefined, requestId: string, missingOk = false): Promise<boolean> {
  const name = `secret.${action}`;
  if (!d.authz.canWriteSecret(p, path)) deny(d, p, name, path, requestId);
  if (action !== "delete" && !versions?.length) throw SecErrors.SEC_ERR_BAD_BODY("no version number provided", "body.versions");
  const store = d.store;
  const ok = await (action === "delete" ? store.delete(path, versions) : action === "undelete" ? store.undelete(path, versions!) : store.destroy(path, versions!)).catch(mapStoreError);
  audit(d, p, { action: name, target: path, outcome: ok ? "ok" : "error", request_id: requestId, ...(versions ? { versions } : { reason: "latest version" }), ...(ok ? {} : { reason: "not found" }) });
  if (!ok && !missingOk) throw SecErrors.SEC_ERR_NOT_FOUND(`no secret at ${path}`, "path");
  return ok;
}

/** Remove the path with every version and its metadata. */
export async function opDeleteAll(d: Deps, p: Principal, path: string, requestId: string, missingOk = false): Promise<boolean> {
  if (!d.authz.canWriteSecret(p, path)) deny(d, p, "secret.metadata_delete", path, requestId);
  const ok = await d.store.deleteAll(path).catch(mapStoreError);
  audit(d, p, { action: "secret.metadata_delete", target: path, outcome: ok ? "ok" : "error", request_id: requestId, ...(ok ? {} : { reason: "not found" }) });
  if (!ok && !missingOk) throw SecErrors.SEC_ERR_NOT_FOUND(`no secret at ${path}`, "path");
  return ok;
}

export async function opMetadata(d: Deps, p: Principal, path: string, requestId: string): Promise<SecretMetadata> {
  if (!d.authz.canReadSecret(p, path)) deny(d, p, "secret.metadata", path, requestId);
  const m = await d.store.metadata(path).catch(mapStoreError);
  audit(d, p, { action: "secret.metadata", target: path, outcome: m ? "ok" : "error", request_id: requestId });
  if (!m) throw SecErrors.SEC_ERR_NOT_FOUND(`no secret at ${path}`, "path");
  return m;
}

export async function opList(d: Deps, p: Principal, prefix: string, requestId: string): Promise<string[]> {
  const probe = prefix === "" ? "" : `${prefix}/x`;
  if (!d.authz.canReadSecret(p, probe)) deny(d, p, "secret.list", prefix, requestId);
  const keys = await d.store.list(prefix === "" ? "" : `${prefix}/`).catch(mapStoreError);
  audit(d, p, { action: "secret.list", target: prefix, outcome: "ok", request_id: requestId });
  return keys;
}
