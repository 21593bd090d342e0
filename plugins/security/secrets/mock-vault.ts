/**
 * MOCK HashiCorp Vault (test support only): Vault cannot run on this machine, so the Vault store is
 * tested against this in-memory imitation of the KV v2 HTTP API (data, metadata, delete, undelete,
 * destroy, LIST, cas, sys/health, X-Vault-Token). Written from Vault's API documentation, independently of our own server.
 */
interface MockVersion { data: Record<string, unknown> | null; created_time: string; deletion_time: string; destroyed: boolean }
interface MockSecret { versions: Map<number, MockVersion>; current: number; created_time: string; updated_time: string }

export interface MockVault {
  url: string;
  token: string;
  requests: { method: string; path: string }[];
  /** When set, every request answers this status (fault injection). */
  failWith?: number;
  stop(): void;
}

export function startMockVault(token = "mock-root-token", mount = "secret"): MockVault {
  const store = new Map<string, MockSecret>();
  const state: MockVault = { url: "", token, requests: [], stop: () => server.stop(true) };
  const errors = (status: number, ...errs: string[]) => Response.json({ errors: errs }, { status });
  const wrap = (data: unknown, status = 200) => Response.json({ request_id: crypto.randomUUID(), lease_id: "", renewable: false, lease_duration: 0, data, wrap_info: null, warnings: null, auth: null }, { status });
  const vmeta = (n: number, v: MockVersion) => ({ version: n, created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed, custom_metadata: null });

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      state.requests.push({ method: req.method, path: url.pathname });
      if (state.failWith) return errors(state.failWith, "injected failure");
      if (url.pathname === "/v1/sys/health") return Response.json({ initialized: true, sealed: false });
      if (req.headers.get("x-vault-token") !== token) return errors(403, "permission denied");
      const m = new RegExp(`^/v1/${mount}/(data|metadata|delete|undelete|destroy)/(.*)$`).exec(url.pathname);
      if (!m) return errors(404, "no handler for route");
      const [, kind, rawPath] = m;
      const path = decodeURIComponent(rawPath).replace(/\/+$/, "");
      const method = req.method === "GET" && url.searchParams.get("list") === "true" ? "LIST" : req.method;
      const rec = store.get(path);
      if (kind === "data" && (method === "POST" || method === "PUT")) {
        const body = (await req.json().catch(() => null)) as { data?: Record<string, unknown>; options?: { cas?: number } } | null;
        if (!body || typeof body.data !== "object") return errors(400, "no data provided");
        const cas = body.options?.cas;
        if (cas !== undefined && cas !== (rec?.current ?? 0)) return errors(400, "check-and-set parameter did not match the current version");
        const now = new Date().toISOString();
        const s = rec ?? { versions: new Map(), current: 0, created_time: now, updated_time: now };
        s.current++;
        s.updated_time = now;
        s.versions.set(s.current, { data: body.data, created_time: now, deletion_time: "", destroyed: false });
        store.set(path, s);
        return wrap(vmeta(s.current, s.versions.get(s.current)!));
      }
      if (kind === "data" && method === "GET") {
        const n = url.searchParams.has("version") && url.searchParams.get("version") !== "0" ? Number(url.searchParams.get("version")) : rec?.current;
        const v = rec && n ? rec.versions.get(n) : undefined;
        if (!v) return errors(404);
        // Deleted or destroyed: 404 with the version's metadata and data null.
        if (v.deletion_time || v.destroyed) return wrap({ data: null, metadata: vmeta(n!, v) }, 404);
        return wrap({ data: v.data, metadata: vmeta(n!, v) });
      }
      // delete/undelete/destroy and DELETE data: a missing path or version is a no-op answered 204.
      const softDelete = (v: MockVersion | undefined) => { if (v && !v.destroyed && !v.deletion_time) v.deletion_time = new Date().toISOString(); };
      if (kind === "data" && method === "DELETE") {
        softDelete(rec?.versions.get(rec.current));
        return new Response(null, { status: 204 });
      }
      if ((kind === "delete" || kind === "undelete" || kind === "destroy") && (method === "POST" || method === "PUT")) {
        const body = (await req.json().catch(() => null)) as { versions?: number[] } | null;
        if (!Array.isArray(body?.versions) || body.versions.length === 0) return errors(400, "no version number provided");
        for (const n of rec ? body.versions : []) {
          const v = rec!.versions.get(n);
          if (!v) continue;
          if (kind === "delete") softDelete(v);
          if (kind === "undelete" && !v.destroyed) v.deletion_time = "";
          if (kind === "destroy") { v.destroyed = true; v.data = null; }
        }
        return new Response(null, { status: 204 });
      }
      if (kind === "metadata" && method === "GET") {
        if (!rec) return errors(404);
        const versions: Record<string, unknown> = {};
        for (const [n, v] of rec.versions) versions[n] = { created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed };
        return wrap({ current_version: rec.current, oldest_version: Math.min(...rec.versions.keys()), max_versions: 0, created_time: rec.created_time, updated_time: rec.updated_time, versions });
      }
      if (kind === "metadata" && method === "DELETE") {
        store.delete(path);
        return new Response(null, { status: 204 });
      }
      if (kind === "metadata" && method === "LIST") {
        const base = path === "" ? "" : path + "/";
        const keys = new Set<string>();
        for (const p of store.keys()) {
          if (!p.startsWith(base)) continue;
          const rest = p.slice(base.length);
          const i = rest.indexOf("/");
          keys.add(i === -1 ? rest : rest.slice(0, i + 1));
        }
        if (keys.size === 0) return errors(404);
        return wrap({ keys: [...keys].sort() });
      }
      return errors(405, "unsupported operation");
    },
  });
  state.url = `http://127.0.0.1:${server.port}`;
  return state;
}
