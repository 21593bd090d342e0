/**
 * The bus across processes (host.redis_url set): what one process's plugins emit reaches the plugins of
 * every other process of the same platform, so a split platform (`--only gateway`, `--only breaker`...)
 * cooperates as one process does.
 *
 * - Notices (breaker transitions, the gateway's services, revocations, falco notices, quarantines) go over
 *   pub/sub, one channel per topic, tagged with this process's id so it ignores its own echo. The last
 *   transition per breaker and quarantine per service, and the last service list, are also kept in Redis
 *   so a process that starts later catches up.
 * - "upstream.outcome" is per request: batched (one message per turn of the event loop, at most 256).
 * - "platform.event" must not be lost: a process without the events plugin appends it to a Redis stream;
 *   the process that has it reads the stream in a consumer group and acknowledges an entry only once the
 *   events plugin has stored it (an entry it could not store is read again).
 */
import Redis from "../../lib/redis";
import type { Bus } from "../../core/bus";
import type { BusTopics, UpstreamOutcome } from "../../contracts/bus-topics";
import type { Logger } from "../../core/log";
import { PlatformEventStream, RETAIN_TTL_S } from "./event-stream";

/** Topics that are notices: every process hears every other's. */
const NOTICES = ["breaker.transition", "gateway.services", "token.revoked", "security.alert", "service.quarantine"] as const;
type Notice = (typeof NOTICES)[number];

/** Which notices are kept for late starters, and under which field (one hash per topic). */
const RETAIN: Partial<Record<Notice, (p: any) => string>> = {
  "breaker.transition": (p: BusTopics["breaker.transition"]) => p.name,
  "service.quarantine": (p: BusTopics["service.quarantine"]) => p.service,
  "gateway.services": () => "last",
};

/** QUIT when connected (what was sent is flushed); a connection that never came up would queue QUIT forever. */
export async function closeRedis(c: Redis): Promise<void> {
  if (c.status === "ready") await c.quit().catch(() => {});
  c.disconnect();
}

const OUTCOME_BATCH = 256;
/** Outcomes held while Redis is away; beyond it the oldest are dropped (and counted): they are statistics. */
const OUTCOME_BACKLOG = 10_000;

export interface BridgeOptions { url: string; platform: string; bus: Bus; log: Logger }

export class BusBridge {
  readonly origin = crypto.randomUUID();
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly offs: (() => void)[] = [];
  private readonly events: PlatformEventStream;
  /**
   * Payloads that came from another process: our own listeners must not send them back out. By identity,
   * not a flag: what a plugin emits while handling a remote payload (a transition caused by a remote
   * outcome) is ours and must go out.
   */
  private readonly remote = new WeakSet<object>();
  private outcomes: UpstreamOutcome[] = [];
  private flushQueued = false;
  private stopped = false;
  /** Counters for /health and tests. */
  readonly stats = { sent: 0, received: 0, outcomesDropped: 0 };

  constructor(private readonly o: BridgeOptions) {
    this.prefix = `tradpal:${o.platform}:bus:`;
    const opts = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true, retryStrategy: (n: number) => Math.min(2000, 50 * 2 ** n) };
    this.pub = new Redis(o.url, opts);
    this.sub = new Redis(o.url, { ...opts, maxRetriesPerRequest: null });
    for (const c of [this.pub, this.sub]) c.on("error", (err) => { if (!this.stopped) o.log.warn("bus bridge: redis error", { err: String(err) }); });
    this.events = new PlatformEventStream({ url: o.url, key: `${this.prefix}platform.event`, consumer: this.origin, bus: o.bus, log: o.log, isRemote: (p) => this.remote.has(p) });
  }

  get connected(): boolean { return this.pub.status === "ready" && this.sub.status === "ready"; }

  /** Subscribe and catch up; waits at most `waitMs` for Redis (cooperation starts by itself once it answers). */
  async start(waitMs = 2000): Promise<boolean> {
    const bus = this.o.bus;
    for (const topic of NOTICES) this.offs.push(bus.on(topic, (p) => { if (!this.remote.has(p)) this.send(topic, p); }));
    this.offs.push(bus.on("upstream.outcome", (p) => { if (!this.remote.has(p)) this.queueOutcome(p); }));
    this.sub.on("message", (channel: string, text: string) => this.onMessage(channel, text));
    this.pub.on("ready", () => { void this.catchUp(); this.flush(); });
    this.pub.connect().catch(() => {});
    this.sub.connect().catch(() => {});
    const channels = [...NOTICES, "upstream.outcome"].map((t) => this.prefix + t);
    const subscribed = this.sub.subscribe(...channels).then(() => true, () => false);
    this.events.start();
    return Promise.race([subscribed, Bun.sleep(waitMs).then(() => false)]);
  }

  private send(topic: Notice, payload: unknown): void {
    const text = JSON.stringify({ o: this.origin, p: payload });
    const field = RETAIN[topic]?.(payload);
    const m = this.pub.multi();
    if (field !== undefined) m.hset(`${this.prefix}retained:${topic}`, field, text).expire(`${this.prefix}retained:${topic}`, RETAIN_TTL_S);
    m.publish(this.prefix + topic, text).exec().then(() => { this.stats.sent++; }, (err) => this.o.log.warn("bus bridge: publish failed", { topic, err: String(err) }));
  }

  private queueOutcome(p: UpstreamOutcome): void {
    if (this.outcomes.length >= OUTCOME_BACKLOG) { this.outcomes.shift(); this.stats.outcomesDropped++; }
    this.outcomes.push(p);
    if (this.outcomes.length >= OUTCOME_BATCH) this.flush();
    else if (!this.flushQueued) { this.flushQueued = true; setImmediate(() => { this.flushQueued = false; this.flush(); }); }
  }

  private flush(): void {
    if (this.outcomes.length === 0 || this.pub.status !== "ready") return;
    while (this.outcomes.length > 0) {
      const batch = this.outcomes.splice(0, OUTCOME_BATCH);
      this.pub.publish(this.prefix + "upstream.outcome", JSON.stringify({ o: this.origin, b: batch })).then(() => { this.stats.sent++; }, () => {});
    }
  }

  private onMessage(channel: string, text: string): void {
    if (!channel.startsWith(this.prefix)) return;
    const topic = channel.slice(this.prefix.length) as keyof BusTopics;
    let msg: { o?: string; p?: unknown; b?: unknown[] };
    try { msg = JSON.parse(text); } catch { this.o.log.warn("bus bridge: unreadable message", { topic }); return; }
    if (msg.o === this.origin) return;
    this.stats.received++;
    if (topic === "upstream.outcome" && Array.isArray(msg.b)) { for (const p of msg.b) this.deliver(topic, p); return; }
    if (msg.p !== undefined) this.deliver(topic, msg.p);
  }

  /** Emit a remote payload on the local bus without sending it back out. */
  private deliver(topic: keyof BusTopics, payload: unknown): void {
    if (payload === null || typeof payload !== "object") return; // every topic's payload is an object
    this.remote.add(payload);
    this.o.bus.emit(topic, payload as never);
  }

  /** A process that starts (or reconnects) late reads the retained notices. */
  private async catchUp(): Promise<void> {
    for (const [topic] of Object.entries(RETAIN)) {
      try {
        const all = await this.pub.hgetall(`${this.prefix}retained:${topic}`);
        for (const text of Object.values(all)) {
          const msg = JSON.parse(text) as { o: string; p: unknown };
          if (msg.o !== this.origin) this.deliver(topic as Notice, msg.p);
        }
      } catch (err) { if (!this.stopped) this.o.log.warn("bus bridge: catch-up failed", { topic, err: String(err) }); }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs.splice(0)) off();
    this.flush();
    await this.events.stop();
    await Promise.allSettled([this.sub, this.pub].map(closeRedis));
  }
}
