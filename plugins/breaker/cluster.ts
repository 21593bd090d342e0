/**
 * Cluster mode (REDIS_URL set): every local transition is published on a Redis channel and kept in a
 * hash (for instances that start later); every instance applies what the others publish, so gateways
 * open and close together. Embedded mode never constructs this.
 */
import Redis from "../../src/lib/redis";
import type { Logger } from "../../src/core/log";
import { STATE_NAMES, HALF_OPEN, type StateCode } from "./state-machine";
import type { BreakerRegistry, BreakerEntry, TransitionRecord } from "./breakers";

export interface ClusterMessage {
  origin: string;
  name: string;
  state: StateCode;
  openUntil: number;
  reason: string;
  at: number;
}

export class BreakerCluster {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channel: string;
  private readonly hashKey: string;
  private stopped = false;

  constructor(url: string, prefix: string, private readonly registry: BreakerRegistry, private readonly log: Logger) {
    this.channel = `${prefix}breaker:transitions`;
    this.hashKey = `${prefix}breaker:state`;
    const opts = { lazyConnect: true, maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: (n: number) => Math.min(2000, 50 * 2 ** n) };
    this.pub = new Redis(url, opts);
    this.sub = new Redis(url, opts);
    for (const c of [this.pub, this.sub]) c.on("error", (err) => { if (!this.stopped) log.warn("breaker cluster redis error", { err: String(err) }); });
  }

  /**
   * Connect, subscribe and take the agreed states. Waits at most `waitMs` for Redis: when it is down the
   * breakers keep working locally and sync starts by itself once Redis answers (subscriptions are
   * queued; every reconnect re-reads the state hash to catch up on what was missed).
   */
  async start(waitMs = 2000): Promise<boolean> {
    this.sub.on("message", (channel, text) => { if (channel === this.channel) this.onMessage(text); });
    this.pub.on("ready", () => { void this.catchUp(); });
    this.pub.connect().catch(() => { /* retried by ioredis; health reports it */ });
    this.sub.connect().catch(() => { /* retried by ioredis */ });
    const subscribed = this.sub.subscribe(this.channel).then(() => true, () => false);
    const ready = await Promise.race([subscribed, Bun.sleep(waitMs).then(() => false)]);
    if (ready) await this.catchUp();
    return ready;
  }

  get connected(): boolean { return this.pub.status === "ready" && this.sub.status === "ready"; }

  private async catchUp(): Promise<void> {
    try {
      const all = await this.pub.hgetall(this.hashKey);
      for (const text of Object.values(all)) this.onMessage(text, true);
    } catch (err) { if (!this.stopped) this.log.warn("breaker cluster: state read failed", { err: String(err) }); }
  }

  private onMessage(text: string, snapshot = false): void {
    let msg: ClusterMessage;
    try { msg = JSON.parse(text); } catch { this.log.warn("breaker cluster: unreadable message", { text: text.slice(0, 200) }); return; }
    if (!msg || typeof msg.name !== "string" || typeof msg.state !== "number") return;
    if (msg.origin === this.registry.instanceId && !snapshot) return;
    // An outage that ended while we were away is not replayed as open.
    if (snapshot && msg.state === 1 && msg.openUntil < this.registry.now()) return;
    this.registry.applyRemote(msg.name, msg.state, msg.openUntil, `${msg.reason} (from another instance)`);
  }

  /** Publish a local transition; HALF_OPEN stays local (each instance runs its own trial calls). */
  publish(entry: BreakerEntry, record: TransitionRecord): void {
    if (this.stopped || record.origin === "remote") return;
    const state = entry.machine.state;
    if (state === HALF_OPEN) return;
    const msg: ClusterMessage = { origin: this.registry.instanceId, name: entry.name, state, openUntil: entry.machine.openUntil, reason: record.reason, at: record.at };
    const text = JSON.stringify(msg);
    this.pub.multi().hset(this.hashKey, entry.name, text).publish(this.channel, text).exec().catch((err) => {
      this.log.warn("breaker cluster: publish failed", { breaker: entry.name, to: STATE_NAMES[state], err: String(err) });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([this.sub.quit(), this.pub.quit()]);
    this.sub.disconnect();
    this.pub.disconnect();
  }
}
