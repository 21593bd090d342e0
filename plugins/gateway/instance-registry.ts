/**
 * Runtime service registration: instances POSTed with a TTL join a configured service's pool and
 * leave it when the TTL passes without a heartbeat (a re-POST). Embedded mode keeps registrations in
 * the shared pool (they survive a config reload); cluster mode (host.redis_url set) keeps them in a
 * Redis hash per service that every gateway re-reads each `sync_interval`, so all gateways see them.
 */
import Redis from "../../src/lib/redis";
import type { SharedPool } from "../../src/core/shared-pool";
import type { Logger } from "../../src/core/log";
import type { TopologyStore } from "./topology-share";

export interface Registration {
  url: string;
  weight: number;
  /** Epoch ms after which the instance leaves the pool. */
  expiresAt: number;
}

export interface RegistryStore {
  readonly kind: "embedded" | "redis";
  put(service: string, reg: Registration): Promise<void>;
  remove(service: string, url: string): Promise<boolean>;
  /** Live (unexpired) registrations of a service, expired ones purged. */
  list(service: string, now: number): Promise<Registration[]>;
  ping(): Promise<boolean>;
  /** Runtime services (POST /services): name → the JSON body as accepted, so every gateway decodes it alike. */
  putService(name: string, specJson: string): Promise<void>;
  removeService(name: string): Promise<boolean>;
  services(): Promise<Map<string, string>>;
  /** Cluster mode: where gateway processes share their call graphs (topology-share.ts). */
  readonly topology?: TopologyStore;
}

type ServiceMap = Map<string, Map<string, Registration>>;

export function embeddedRegistry(shared: SharedPool): RegistryStore {
  const all = shared.getOrCreate<ServiceMap>("gateway:registry", () => new Map());
  const specs = shared.getOrCreate<Map<string, string>>("gateway:runtime-services", () => new Map());
  return {
    kind: "embedded",
    async put(service, reg) {
      let m = all.get(service);
      if (!m) all.set(service, (m = new Map()));
      m.set(reg.url, reg);
    },
    async remove(service, url) { return all.get(service)?.delete(url) ?? false; },
    async list(service, now) {
      const m = all.get(service);
      if (!m) return [];
      const out: Registration[] = [];
      for (const [url, reg] of m) {
        if (reg.expiresAt <= now) m.delete(url); else out.push(reg);
      }
      return out;
    },
    async ping() { return true; },
    async putService(name, json) { specs.set(name, json); },
    async removeService(name) { all.delete(name); return specs.delete(name); },
    async services() { return new Map(specs); },
  };
}

export function redisRegistry(shared: SharedPool, redisUrl: string, prefix: string, log: Logger): RegistryStore {
  const redis = shared.getOrCreate<Redis>(`gateway:redis:${redisUrl}`, () => {
    const r = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    // One warning per outage, not one per reconnect attempt.
    let down = false;
    r.on("error", (err) => { if (!down) { down = true; log.warn("registry redis unreachable; retrying in the background", { err }); } });
    r.on("ready", () => { if (down) { down = false; log.info("registry redis reachable again"); } });
    return r;
  });
  const key = (service: string) => `${prefix}registry:${service}`;
  return {
    kind: "redis",
    async put(service, reg) {
      await redis.hset(key(service), reg.url, JSON.stringify({ weight: reg.weight, expiresAt: reg.expiresAt }));
    },
    async remove(service, url) { return (await redis.hdel(key(service), url)) > 0; },
    async list(service, now) {
      const raw = await redis.hgetall(key(service));
      const out: Registration[] = [];
      const expired: string[] = [];
      for (const [url, json] of Object.entries(raw)) {
        try {
          const v = JSON.parse(json) as { weight: number; expiresAt: number };
          if (v.expiresAt <= now) expired.push(url); else out.push({ url, weight: v.weight, expiresAt: v.expiresAt });
        } catch { expired.push(url); }
      }
      if (expired.length) await redis.hdel(key(service), ...expired);
      return out;
    },
    async ping() {
      try { return (await redis.ping()) === "PONG"; } catch { return false; }
    },
    async putService(name, json) { await redis.hset(`${prefix}services`, name, json); },
    async removeService(name) {
      const n = await redis.hdel(`${prefix}services`, name);
      await redis.del(key(name));
      return n > 0;
    },
    async services() { return new Map(Object.entries(await redis.hgetall(`${prefix}services`))); },
    topology: {
      // One hash, a field per gateway process; the key lives while some gateway keeps writing it.
      async put(id, json, ttlMs) { await redis.multi().hset(`${prefix}topology`, id, json).pexpire(`${prefix}topology`, ttlMs).exec(); },
      async all() { return new Map(Object.entries(await redis.hgetall(`${prefix}topology`))); },
      async drop(ids) { if (ids.length > 0) await redis.hdel(`${prefix}topology`, ...ids); },
    },
  };
}
