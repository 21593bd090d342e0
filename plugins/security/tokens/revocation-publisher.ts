/**
 * Tells gateways a token was revoked: the `token.revoked` bus topic (same process) and, when the host
 * has a Redis URL, a pub/sub channel (gateways in other processes). Pub/sub is fire-and-forget, so a
 * gateway that was disconnected catches up from GET /tokens/revoked.
 */
import Redis from "../../../src/lib/redis";
import type { Bus } from "../../../src/core/bus";
import type { Logger } from "../../../src/core/log";
import type { TokenRevoked } from "../../../src/contracts/bus-topics";

export interface RevocationPublisher {
  publish(e: TokenRevoked): void;
  stop(): Promise<void>;
}

export function createRevocationPublisher(bus: Bus, redisUrl: string, channel: string, log: Logger): RevocationPublisher {
  let redis: Redis | undefined;
  if (redisUrl && channel) {
    redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 1000, retryStrategy: () => 1000 });
    redis.on("error", () => {}); // a failed publish is logged below
  }
  return {
    publish(e) {
      bus.emit("token.revoked", e);
      if (!redis) return;
      redis.publish(channel, JSON.stringify(e)).catch((err) => log.warn("token revocation not published on Redis (gateways in other processes catch up from GET /tokens/revoked)", { jti: e.jti, error: String(err?.message ?? err) }));
    },
    async stop() {
      if (!redis) return;
      const r = redis;
      redis = undefined;
      // QUIT on a connection that is not up would wait in the offline queue: drop it instead.
      if (r.status !== "ready") r.disconnect();
      else await Promise.race([r.quit().catch(() => r.disconnect()), Bun.sleep(500).then(() => r.disconnect())]);
    },
  };
}
