/**
 * The embedded secret store: versions in memory (reads are a Map lookup), every change persisted as one
 * AES-256-GCM sealed file per path under `<dir>/` (named by a hash of the path, so neither values nor
 * paths appear in the data directory in clear). Nothing plaintext is written.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { openOrExplain, writeFileAtomic, type SealBox } from "../crypto-box";
import { CasMismatchError, type SecretMetadata, type SecretLookup, type SecretStore, type SecretVersionMeta } from "./store";

interface StoredVersion {
  data?: Record<string, unknown>;
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

interface StoredSecret {
  path: string;
  current: number;
  created_time: string;
  updated_time: string;
  versions: Record<string, StoredVersion>;
}

const EXT = ".sec";

export function createEmbeddedStore(opts: { dir: string; box: SealBox; maxVersions: number }): SecretStore {
  const { dir, box, maxVersions } = opts;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secrets = new Map<string, StoredSecret>();

  const fileOf = (path: string) => createHash("sha256").update(path).digest("hex");
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(EXT)) continue;
    const id = name.slice(0, -EXT.length);
    const rec = JSON.parse(openOrExplain(box, readFileSync(join(dir, name), "utf8"), `secret:${id}`, `secret file ${join(dir, name)}`).toString("utf8")) as StoredSecret;
    secrets.set(rec.path, rec);
  }

  function persist(rec: StoredSecret): void {
    const id = fileOf(rec.path);
    writeFileAtomic(join(dir, id + EXT), box.seal(JSON.stringify(rec), `secret:${id}`));
  }

  /** Apply `fn` to the listed versions that exist (absent ones skipped, as Vault does) and persist once. */
  function change(path: string, versions: number[], fn: (v: StoredVersion, now: string) => StoredVersion): boolean {
    const rec = secrets.get(path);
    if (!rec) return false;
    const now = new Date().toISOString();
    const next: StoredSecret = { ...rec, versions: { ...rec.versions } };
    let changed = false;
    for (const n of versions) {
      const v = next.versions[String(n)];
      if (!v) continue;
      const w = fn(v, now);
      if (w !== v) { next.versions[String(n)] = w; changed = true; }
    }
    if (changed) {
      next.updated_time = now;
      persist(next); // disk first: a failed write leaves memory unchanged
      secrets.set(path, next);
    }
    return true;
  }

  const meta = (version: number, v: StoredVersion): SecretVersionMeta => ({ version, created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed });

  /** One frozen lookup per stored version: a StoredVersion is replaced, never edited, by every put, delete, undelete and destroy. */
  const lookups = new WeakMap<StoredVersion, SecretLookup>();
  function peek(path: string, version?: number): SecretLookup | undefined {
    const rec = secrets.get(path);
    if (!rec) return undefined;
    const n = version ?? rec.current;
    const v = rec.versions[String(n)];
    if (!v) return undefined;
    let got = lookups.get(v);
    if (got === undefined) {
      const hidden = v.deletion_time !== "" || v.destroyed || !v.data;
      got = Object.freeze({ data: hidden ? null : v.data!, metadata: Object.freeze(meta(n, v)) });
      lookups.set(v, got);
    }
    return got;
  }

  return {
    kind: "embedded",
    async put(path, data, o = {}) {
      const rec = secrets.get(path);
      const current = rec?.current ?? 0;
      if (o.cas !== undefined && o.cas !== current) throw new CasMismatchError(o.cas, current);
      const now = new Date().toISOString();
      const next: StoredSecret = rec ? { ...rec, versions: { ...rec.versions } } : { path, current: 0, created_time: now, updated_time: now, versions: {} };
      next.current = current + 1;
      next.updated_time = now;
      next.versions[String(next.current)] = { data: structuredClone(data), created_time: now, deletion_time: "", destroyed: false };
      const keys = Object.keys(next.versions).map(Number).sort((a, b) => a - b);
      for (const k of keys.slice(0, Math.max(0, keys.length - maxVersions))) delete next.versions[String(k)];
      persist(next); // disk first: a failed write leaves memory unchanged
      secrets.set(path, next);
      return meta(next.current, next.versions[String(next.current)]);
    },
    async get(path, version) {
      return peek(path, version);
    },
    peek,
    async delete(path, versions) {
      // Soft delete keeps the (sealed) data so undelete can restore it; an already deleted version keeps its first deletion_time.
      return change(path, versions ?? [secrets.get(path)?.current ?? 0], (v, now) => (v.deletion_time || v.destroyed ? v : { ...v, deletion_time: now }));
    },
    async undelete(path, versions) {
      // A version soft-deleted before undelete existed has no data left: it stays deleted.
      return change(path, versions, (v) => (v.destroyed || !v.data || !v.deletion_time ? v : { ...v, deletion_time: "" }));
    },
    async destroy(path, versions) {
      // The data leaves the record, so the rewritten sealed file no longer holds it.
      return change(path, versions, (v) => (v.destroyed ? v : { ...v, data: undefined, destroyed: true }));
    },
    async deleteAll(path) {
      if (!secrets.has(path)) return false;
      rmSync(join(dir, fileOf(path) + EXT), { force: true });
      secrets.delete(path);
      return true;
    },
    async metadata(path) {
      const rec = secrets.get(path);
      if (!rec) return undefined;
      const nums = Object.keys(rec.versions).map(Number);
      const versions: SecretMetadata["versions"] = {};
      for (const n of nums) {
        const v = rec.versions[String(n)];
        versions[String(n)] = { created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed };
      }
      return { current_version: rec.current, oldest_version: Math.min(...nums), max_versions: maxVersions, created_time: rec.created_time, updated_time: rec.updated_time, versions };
    },
    async list(prefix) {
      const base = prefix === "" || prefix.endsWith("/") ? prefix : prefix + "/";
      const out = new Set<string>();
      for (const p of secrets.keys()) {
        if (!p.startsWith(base)) continue;
        const rest = p.slice(base.length);
        const slash = rest.indexOf("/");
        out.add(slash === -1 ? rest : rest.slice(0, slash + 1));
      }
      return [...out].sort();
    },
    async health() { return { ok: true }; },
    async close() { /* nothing buffered: every change is on disk when put() resolves */ },
  };
}
