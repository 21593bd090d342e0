/**
 * The event side of bench/chaos.bench.ts: a publisher at a fixed rate through POST /events (one attempt
 * per event, no client retry, so a 201 is counted exactly once) and one consumer-group member through
 * EventSubscriberClient, which reconnects by itself when the store or the plugin goes away.
 */
import { EventClient } from "../../src/clients/event-client";
import { EventSubscriberClient } from "../../src/clients/event-subscriber";

export const EVENT_TYPE = "custom.chaos";

export interface PublishRecord { seq: number; at: number; status: number | "timeout" | "err"; ms: number }

export class ChaosPublisher {
  readonly records: PublishRecord[] = [];
  private running = false;
  private loop?: Promise<void>;
  private inflight = 0;
  /** Ticks skipped because `maxInflight` answers were outstanding (a stalled plugin, not a dropped event). */
  skipped = 0;
  constructor(private readonly baseUrl: string, readonly rate: number, private readonly maxInflight = 200) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    // Bounded: every publish carries a 3 s deadline.
    const deadline = Date.now() + 5000;
    while (this.inflight > 0 && Date.now() < deadline) await Bun.sleep(20);
  }

  acked(): Set<number> {
    return new Set(this.records.filter((r) => r.status === 201).map((r) => r.seq));
  }

  private async run(): Promise<void> {
    const t0 = performance.now();
    for (let i = 0; this.running; i++) {
      const wait = t0 + (i * 1000) / this.rate - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      if (this.inflight >= this.maxInflight) { this.skipped++; continue; }
      void this.publish(i);
    }
  }

  private async publish(seq: number): Promise<void> {
    const rec: PublishRecord = { seq, at: Date.now(), status: "err", ms: NaN };
    this.records.push(rec);
    this.inflight++;
    try {
      const res = await fetch(`${this.baseUrl}/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: EVENT_TYPE, payload: { seq } }),
        signal: AbortSignal.timeout(3000),
      });
      await res.arrayBuffer();
      rec.status = res.status;
    } catch (err) {
      rec.status = (err as Error)?.name === "TimeoutError" ? "timeout" : "err";
    } finally {
      rec.ms = Date.now() - rec.at;
      this.inflight--;
    }
  }
}

export class ChaosConsumer {
  readonly delivered = new Set<number>();
  deliveries = 0;
  errors = 0;
  private sub: EventSubscriberClient;
  constructor(baseUrl: string, group: string) {
    const client = new EventClient({ baseUrl, source: "chaos-bench", timeoutMs: 3000 });
    this.sub = new EventSubscriberClient(client, {
      group,
      consumer: "chaos-1", // stable: after a reconnect the service first re-sends this consumer's unacked entries
      start: "all",
      backoffBaseMs: 50,
      backoffCapMs: 1000, // reconnect within a second of the store coming back
      onError: () => { this.errors++; },
    });
    this.sub.registerHandler(EVENT_TYPE, (e) => {
      this.deliveries++;
      this.delivered.add(Number((e.payload as { seq: number }).seq));
    });
  }
  start(): Promise<void> { return this.sub.startSubscribing(); }
  stop(): Promise<void> { return this.sub.stop(); }
  get connected(): boolean { return this.sub.connected; }

  /** Wait (bounded) until every acknowledged publish has been delivered; returns how long it took. */
  async drain(acked: Set<number>, maxMs: number): Promise<{ ms: number; missing: number[] }> {
    const t0 = Date.now();
    let missing: number[] = [];
    while (Date.now() - t0 < maxMs) {
      missing = [...acked].filter((s) => !this.delivered.has(s));
      if (missing.length === 0) break;
      await Bun.sleep(100);
    }
    return { ms: Date.now() - t0, missing };
  }
}
