/**
 * HashiCorp Vault KV v2 as the secret store (ENABLE_VAULT): /v1/<mount>/data/<path> for versions,
 * /v1/<mount>/{delete,undelete,destroy}/<path> for version state, /v1/<mount>/metadata/<path> for metadata, X-Vault-Token for auth. Errors become BackendError
 * (unreachable → 503, anything else unexpected → 502) or CasMismatchError.
 */
import { BackendError, CasMismatchError, type SecretMetadata, type SecretLookup, type SecretStore, type SecretVersionMeta } from "./store";

export interface VaultOptions {
  addr: string;
  token: string;
  mount: string;
  timeoutMs: number;
}

export function createVaultStore(opts: VaultOptions): SecretStore {
  const base = `${opts.addr.replace(/\/+$/, "")}/v1/${opts.mount.replace(/^\/+|\/+$/g, "")}`;
  const enc = (p: string) => p.split("/").map(encodeURIComponent).join("/");

  async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { "x-vault-token": opts.token, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (err) {
      throw new BackendError(`vault unreachable: ${(err as Error).message}`, true);
    }
    const text = await res.text();
    let json: any = undefined;
    try { json = text ? JSON.parse(text) : undefined; } catch { /* non-JSON error page */ }
    return { status: res.status, json };
  }

  const fail = (what: string, r: { status: number; json: any }) =>
    new BackendError(`vault ${what} answered ${r.status}: ${(r.json?.errors ?? []).join("; ").slice(0, 200)}`, r.status >= 500);

  const versionMeta = (m: any): SecretVersionMeta => ({ version: m.version, created_time: m.created_time, deletion_time: m.deletion_time ?? "", destroyed: m.destroyed === true });

  /** POST /<mount>/{undelete,destroy}/<path> { versions }. Vault answers 204 for a missing path too, so ask first. */
  async function versionsCall(kind: "undelete" | "destroy", path: string, versions: number[]): Promise<boolean> {
    const m = await call("GET", `${base}/metadata/${enc(path)}`);
    if (m.status === 404) return false;
    if (m.status !== 200) throw fail("metadata read", m);
    const r = await call("POST", `${base}/${kind}/${enc(path)}`, { versions });
    if (r.status !== 204 && r.status !== 200) throw fail(kind, r);
    return true;
  }

  return {
    kind: "vault",
    async put(path, data, o = {}) {
      const r = await call("POST", `${base}/data/${enc(path)}`, { data, ...(o.cas !== undefined ? { options: { cas: o.cas } } : {}) });
      if (r.status === 400 && JSON.stringify(r.json?.errors ?? "").includes("check-and-set")) {
        const m = await this.metadata(path);
        throw new CasMismatchError(o.cas ?? -1, m?.current_version ?? 0);
      }
      if (r.status !== 200) throw fail("write", r);
      return r.json.data as SecretVersionMeta;
    },
    async get(path, version) {
      const r = await call("GET", `${base}/data/${enc(path)}${version !== undefined ? `?version=${version}` : ""}`);
      const d = r.json?.data;
      // Vault answers a deleted or destroyed version 404 *with* its metadata; a missing one 404 without.
      if (r.status === 404) return d?.metadata ? { data: null, metadata: versionMeta(d.metadata) } : undefined;
      if (r.status !== 200) throw fail("read", r);
      if (!d?.metadata) throw fail("read (no metadata)", r);
      return { data: d.data ?? null, metadata: versionMeta(d.metadata) } satisfies SecretLookup;
    },
    async delete(path, versions) {
      if (!(await this.metadata(path))) return false;
      const r = versions
        ? await call("POST", `${base}/delete/${enc(path)}`, { versions })
        : await call("DELETE", `${base}/data/${enc(path)}`);
      if (r.status !== 204 && r.status !== 200) throw fail("delete", r);
      return true;
    },
    async undelete(path, versions) { return versionsCall("undelete", path, versions); },
    async destroy(path, versions) { return versionsCall("destroy", path, versions); },
    async deleteAll(path) {
      const exists = await this.metadata(path);
      if (!exists) return false;
      const r = await call("DELETE", `${base}/metadata/${enc(path)}`);
      if (r.status !== 204 && r.status !== 200) throw fail("metadata delete", r);
      return true;
    },
    async metadata(path) {
      const r = await call("GET", `${base}/metadata/${enc(path)}`);
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw fail("metadata read", r);
      return r.json.data as SecretMetadata;
    },
    async list(prefix) {
      // GET ?list=true is Vault's documented alternative to the LIST verb (which not every HTTP stack passes).
      const r = await call("GET", `${base}/metadata/${enc(prefix.replace(/\/+$/, ""))}?list=true`);
      if (r.status === 404) return [];
      if (r.status !== 200) throw fail("list", r);
      return (r.json?.data?.keys ?? []) as string[];
    },
    async health() {
      try {
        const r = await fetch(`${opts.addr.replace(/\/+$/, "")}/v1/sys/health`, { signal: AbortSignal.timeout(opts.timeoutMs) });
        return r.status === 200 ? { ok: true } : { ok: false, reason: `vault health answered ${r.status}` };
      } catch (err) {
        return { ok: false, reason: `vault unreachable: ${(err as Error).message}` };
      }
    },
    async close() {},
  };
}
