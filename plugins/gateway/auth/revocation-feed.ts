/**
 * Where the edge hears about revoked tokens: the in-process bus topic `token.revoked` (security plugin
 * in the same host), a Redis pub/sub channel (security plugin in another process), and optionally the
 * security plugin's GET /tokens/revoked at start and after every Redis reconnect (messages published
 * while we were disconnected are lost; the list fills the hole).
 */
import Redis from "../../../src/lib/redis";
import type { Bus } from "../../../src/core/bus";
import type { Logger } from "../../../src/core/log";

export interface RevocationFeedOptions {
  bus: Bus;
  /** Empty: no cluster channel. */
  redisUrl: string;
  channel: string;
  /** The security plugin's GET /tokens/revoked; empty: no seeding. */
  listUrl: string;
  listToken: string;
  /** fetch()'s `tls` for listUrl (platform mTLS: the host's certificate). */
  listTls?: () => object | undefined;
  log: Logger;
  onRevoked(jti: string, expS: number): void;
}

export interface RevocationFeed {
  /** Resolves after the first seed attempt and the SUBSCRIBE (never rejects; race it with a timeout). */
  ready: Promise<void>;
  health(): Record<string, unknown>;
  stop(): Promise<void>;
}

/** One revocation from the wire (Redis message or list item), or undefined when malformed. */
export function parseRevocation(v: unknown): { jti: string; exp: number } | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const { jti, exp } = v as Record<string, unknown>;
  if (typeof jti !== "string" || jti.length === 0 || jti.length > 256 || typeof exp !== "number" || !Number.isFinite(exp)) return undefined;
  return { jti, exp };
}

export function startRevocationFeed(o: RevocationFeedOptions): RevocationFeed {
  let received = 0;
  let lastSeed: { at: string; ok: boolean; entries?: number; error?: string } | undefined;
  const offBus = o.bus.on("token.revoked", (e) => { received++; o.onRevoked(e.jti, e.exp); });

  async function seed(): Promise<void> {
    if (!o.listUrl) return;
    try {
      const tls = o.listTls?.();
      const r = await fetch(o.listUrl, { headers: o.listToken ? { authorization: `Bearer ${o.listToken}` } : {}, signal: AbortSignal.timeout(2000), ...(tls ? { tls } : {}) } as RequestInit);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const body = (await r.json()) as unknown;
      const items = Array.isArray(body) ? body : [];
      let n = 0;
      for (const it of items) {
        const rev = parseRevocation(it);
        if (rev) { o.onRevoked(rev.jti, rev.exp); n++; }
      }
      lastSeed = { at: new Date().toISOString(), ok: true, entries: n };
    } catch (err) {
      lastSeed = { at: new Date().toISOString(), ok: false, error: String((err as Error)?.message ?? err) };
      o.log.warn("could not fetch the revoked-token list", { url: o.listUrl, error: lastSeed.error });
    }
  }

  let sub: Redis | undefined;
  let subscribed = false;
  let subscribing: Promise<void> = Promise.resolve();
  if (o.redisUrl && o.channel) {
    // A subscriber connection can do nothing else, so it is our own (not the rate limiter's).
    // Offline queue on: SUBSCRIBE waits for the first connection; ioredis re-subscribes after reconnects.
    sub = new Redis(o.redisUrl, { maxRetriesPerRequest: null, retryStrategy: () => 1000, connectTimeout: 1000 });
    sub.on("error", () => {}); // reconnects on its own; health() shows the state
    // Every (re)connection, the first included: anything published before SUBSCRIBE took effect was
    // lost to us (Redis down at start, a reconnect, or the start-up seed racing the subscription).
    sub.on("ready", () => void seed());
    sub.on("message", (_channel: string, message: string) => {
      let rev: ReturnType<typeof parseRevocation>;
      try { rev = parseRevocation(JSON.parse(message)); } catch { rev = undefined; }
      if (!rev) { o.log.warn("ignored a malformed token revocation message", { channel: o.channel }); return; }
      received++;
      o.onRevoked(rev.jti, rev.exp);
    });
    subscribing = sub.subscribe(o.channel)
      .then(() => { subscribed = true; })
      .catch((err) => o.log.warn("token revocation channel not subscribed", { error: String(err?.message ?? err) }));
  }

  return {
    ready: Promise.all([seed(), subscribing]).then(() => undefined),
    health: () => ({
      received,
      ...(sub ? { channel: o.channel, redis: sub.status, subscribed } : {}),
      ...(lastSeed ? { list: lastSeed } : {}),
    }),
    async stop() {
      offBus();
      if (sub) {
        const s = sub;
        sub = undefined;
        // QUIT on a connection that never came up would sit in the offline queue forever.
        if (s.status !== "ready") s.disconnect();
        else await Promise.race([s.quit().catch(() => s.disconnect()), Bun.sleep(500).then(() => s.disconnect())]);
      }
    },
  };
}
