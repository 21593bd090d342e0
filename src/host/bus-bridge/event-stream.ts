/**
 * "platform.event" between processes, with acknowledgement: pub/sub would drop what is sent while the
 * events plugin's process is away or Redis restarts. A process without the events plugin appends each
 * event to a Redis stream (held in a bounded queue while Redis is away); the process with the events
 * plugin reads the stream in a consumer group and acknowledges an entry only after "events.ingest"
 * stored it. Entries a consumer took and never acknowledged (it died, or the store failed) are read again.
 */
import Redis from "../../lib/redis";
import type { Bus } from "../../core/bus";
import type { PlatformEvent } from "../../contracts/bus-topics";
import type { Logger } from "../../core/log";

const GROUP = "events";
/** What the bridge keeps in Redis expires when nothing refreshed it this long (a platform gone for good leaves nothing behind). */
export const RETAIN_TTL_S = 7 * 24 * 3600;
/** Events held while Redis is away; beyond it the oldest is dropped, counted and logged. */
const BACKLOG = 10_000;
/** The stream is a hand-over, not the store: the events plugin keeps the events. */
const MAX_LEN = 100_000;
/** An entry another consumer took and left unacknowledged this long is taken over (that consumer died). */
const CLAIM_IDLE_MS = 10_000;

export interface EventStreamOptions {
  url: string;
  key: string;
  consumer: string;
  bus: Bus;
  log: Logger;
  /** A payload the bridge brought from another process (not ours to send on). */
  isRemote(payload: object): boolean;
}

export class PlatformEventStream {
  private readonly conn: Redis;
  /** Blocking reads get their own connection (a blocked one cannot send anything else). */
  private readonly reader: Redis;
  private queue: PlatformEvent[] = [];
  private sending = false;
  private retry: Timer | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private off: (() => void) | null = null;
  readonly stats = { appended: 0, ingested: 0, dropped: 0, redelivered: 0 };

  constructor(private readonly o: EventStreamOptions) {
    const opts = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n: number) => Math.min(2000, 50 * 2 ** n) };
    this.conn = new Redis(o.url, opts);
    this.reader = new Redis(o.url, { ...opts, maxRetriesPerRequest: null });
    for (const c of [this.conn, this.reader]) c.on("error", () => { /* the bridge logs Redis errors once */ });
  }

  start(): void {
    this.conn.connect().catch(() => {});
    this.reader.connect().catch(() => {});
    this.conn.on("ready", () => this.send());
    this.off = this.o.bus.on("platform.event", (pe) => {
      // The local events plugin hears the bus itself; only a process without it hands events over.
      if (this.o.isRemote(pe) || this.o.bus.service("events.ingest") !== undefined) return;
      if (this.queue.length >= BACKLOG) {
        this.queue.shift();
        if (this.stats.dropped++ % 1000 === 0) this.o.log.error("bus bridge: platform events dropped (Redis away too long)", { dropped: this.stats.dropped });
      }
      // One id from here on: a resend after a lost reply, or a second read, is stored once by the events plugin.
      this.queue.push(pe.id === undefined ? { ...pe, id: crypto.randomUUID() } : pe);
      this.send();
    });
    this.loop = this.consume();
  }

  /** Append what waits, in order; on failure keep it and try again shortly. */
  private send(): void {
    if (this.sending || this.queue.length === 0 || this.stopped) return;
    if (this.conn.status !== "ready") { this.later(); return; }
    this.sending = true;
    const batch = this.queue.slice(0, 500);
    const m = this.conn.multi();
    for (const pe of batch) m.xadd(this.o.key, "MAXLEN", "~", MAX_LEN, "*", "e", JSON.stringify(pe));
    m.expire(this.o.key, RETAIN_TTL_S);
    m.exec().then((res) => {
      this.sending = false;
      if (res === null || res.some(([err]) => err)) { this.later(); return; }
      this.queue.splice(0, batch.length);
      this.stats.appended += batch.length;
      this.send();
    }, () => { this.sending = false; this.later(); });
  }

  private later(): void {
    if (this.retry !== null || this.stopped) return;
    this.retry = setTimeout(() => { this.retry = null; this.send(); }, 200);
  }

  /** The consumer: runs in every process, reads only while this process hosts the events plugin. */
  private async consume(): Promise<void> {
    let groupReady = false;
    let pendingFirst = true;
    let lastClaim = 0;
    while (!this.stopped) {
      const ingest = this.o.bus.service("events.ingest");
      if (ingest === undefined || this.reader.status !== "ready") { await Bun.sleep(250); continue; }
      try {
        if (!groupReady) {
          // From the stream's start: what was appended before any events plugin ran is delivered too.
          await this.reader.xgroup("CREATE", this.o.key, GROUP, "0", "MKSTREAM").catch((err) => { if (!String(err).includes("BUSYGROUP")) throw err; });
          groupReady = true;
        }
        let entries: [string, string[]][] = [];
        if (Date.now() - lastClaim > CLAIM_IDLE_MS) {
          lastClaim = Date.now();
          const claimed = (await this.reader.xautoclaim(this.o.key, GROUP, this.o.consumer, CLAIM_IDLE_MS, "0-0", "COUNT", 100)) as [string, [string, string[]][]];
          entries = claimed[1].filter((e) => e[1] !== null);
          this.stats.redelivered += entries.length;
        }
        if (entries.length === 0) {
          const res = (await this.reader.xreadgroup("GROUP", GROUP, this.o.consumer, "COUNT", 100, "BLOCK", 500, "STREAMS", this.o.key, pendingFirst ? "0" : ">")) as [string, [string, string[]][]][] | null;
          entries = res?.[0]?.[1] ?? [];
          if (pendingFirst && entries.length === 0) pendingFirst = false;
        }
        const acks: string[] = [];
        for (const [id, fields] of entries) {
          let pe: PlatformEvent | undefined;
          try { pe = JSON.parse(fields[1]); } catch { acks.push(id); continue; } // unreadable: nothing to retry
          try { await ingest(pe!); acks.push(id); this.stats.ingested++; } catch { pendingFirst = true; break; } // store down: read it again
        }
        if (acks.length > 0) await this.reader.xack(this.o.key, GROUP, ...acks);
      } catch (err) {
        if (!this.stopped) { this.o.log.warn("bus bridge: platform event stream read failed", { err: String(err) }); groupReady = false; await Bun.sleep(250); }
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.off?.();
    if (this.retry !== null) clearTimeout(this.retry);
    // Hand over what is still queued (a shutdown right after an emit), as far as Redis takes it now.
    while (this.queue.length > 0 && this.conn.status === "ready") {
      const batch = this.queue.splice(0, 500);
      const m = this.conn.multi();
      for (const pe of batch) m.xadd(this.o.key, "MAXLEN", "~", MAX_LEN, "*", "e", JSON.stringify(pe));
      const ok = await m.exec().then((r) => r !== null && !r.some(([err]) => err), () => false);
      if (!ok) { this.queue.unshift(...batch); break; }
      this.stats.appended += batch.length;
    }
    if (this.queue.length > 0) this.o.log.error("bus bridge: platform events not handed over at stop (Redis away)", { count: this.queue.length });
    this.reader.disconnect();
    await this.loop;
    if (this.conn.status === "ready") await this.conn.quit().catch(() => {});
    this.conn.disconnect();
  }
}
