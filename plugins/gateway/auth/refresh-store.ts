/**
 * Refresh tokens rotate: each use returns a new one and retires the old. A token belongs to a family
 * (one login); presenting a retired token means it was stolen or replayed, so the whole family is
 * revoked (OAuth 2.0 Security BCP, refresh token rotation). Token = "<family>.<secret>"; only the
 * SHA-256 of the current secret is stored. Memory store for embedded mode, Redis for a cluster.
 */
import { createHash, randomBytes } from "node:crypto";
import type Redis from "../../../src/lib/redis";

export interface FamilyData {
  subject: string;
  scopes: string[];
  via: string;
}

export type RotateResult =
  | { ok: true; token: string; data: FamilyData }
  | { ok: false; reason: "unknown" | "reused" | "revoked" | "expired" | "malformed" };

export interface RefreshStore {
  create(data: FamilyData, ttlMs: number): Promise<string>;
  rotate(token: string): Promise<RotateResult>;
}

const TOKEN_RE = /^([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$/;
const hash = (s: string) => createHash("sha256").update(s).digest("base64url");
const secret = () => randomBytes(32).toString("base64url");

function split(token: string): { family: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { family: m[1], secret: m[2] } : undefined;
}

interface MemFamily { current: string; data: FamilyData; expiresAt: number; revoked: boolean }

export class MemoryRefreshStore implements RefreshStore {
  constructor(private readonly families: Map<string, MemFamily> = new Map()) {}

  async create(data: FamilyData, ttlMs: number): Promise<string> {
    this.sweep();
    const family = randomBytes(16).toString("base64url");
    const s = secret();
    this.families.set(family, { current: hash(s), data, expiresAt: Date.now() + ttlMs, revoked: false });
    return `${family}.${s}`;
  }

  async rotate(token: string): Promise<RotateResult> {
    const parts = split(token);
    if (!parts) return { ok: false, reason: "malformed" };
    const f = this.families.get(parts.family);
    if (!f) return { ok: false, reason: "unknown" };
    if (f.expiresAt <= Date.now()) { this.families.delete(parts.family); return { ok: false, reason: "expired" }; }
    if (f.revoked) return { ok: false, reason: "revoked" };
    if (f.current !== hash(parts.secret)) { f.revoked = true; return { ok: false, reason: "reused" }; }
    const s = secret();
    f.current = hash(s);
    return { ok: true, token: `${parts.family}.${s}`, data: f.data };
  }

  private sweep(): void {
    if (this.families.size < 10_000) return;
    const now = Date.now();
    for (const [k, f] of this.families) if (f.expiresAt <= now) this.families.delete(k);
  }
}

/** Compare-and-rotate in one script so two gateways cannot both accept the same token. */
const ROTATE_LUA = `
local v = redis.call('HMGET', KEYS[1], 'cur', 'revoked', 'data')
if not v[1] then return {'unknown'} end
if v[2] == '1' then return {'revoked'} end
if v[1] ~= ARGV[1] then redis.call('HSET', KEYS[1], 'revoked', '1') return {'reused'} end
redis.call('HSET', KEYS[1], 'cur', ARGV[2])
return {'ok', v[3]}
`;

/** The client with the rotation script defined on it (ioredis adds a method per defineCommand). */
type RotatingClient = Redis & { tradpalRefreshRotate?: (key: string, current: string, next: string) => Promise<string[]> };

export class RedisRefreshStore implements RefreshStore {
  private readonly client: RotatingClient;

  constructor(client: Redis, private readonly prefix: string) {
    this.client = client;
    if (!this.client.tradpalRefreshRotate) client.defineCommand("tradpalRefreshRotate", { numberOfKeys: 1, lua: ROTATE_LUA });
  }

  async create(data: FamilyData, ttlMs: number): Promise<string> {
    const family = randomBytes(16).toString("base64url");
    const s = secret();
    const key = `${this.prefix}rt:${family}`;
    await this.client.multi().hset(key, "cur", hash(s), "revoked", "0", "data", JSON.stringify(data)).pexpire(key, Math.max(1, Math.floor(ttlMs))).exec();
    return `${family}.${s}`;
  }

  async rotate(token: string): Promise<RotateResult> {
    const parts = split(token);
    if (!parts) return { ok: false, reason: "malformed" };
    const s = secret();
    const r = await this.client.tradpalRefreshRotate!(`${this.prefix}rt:${parts.family}`, hash(parts.secret), hash(s));
    if (r[0] !== "ok") return { ok: false, reason: r[0] as "unknown" | "reused" | "revoked" };
    return { ok: true, token: `${parts.family}.${s}`, data: JSON.parse(r[1]) as FamilyData };
  }
}
