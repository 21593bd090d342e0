/**
 * Replay: events of chosen types and time/id range, in stream order, re-delivered at a bounded rate to
 *  - the response itself (NDJSON, one event per line),
 *  - a stream "<stream>:replay:<name>" (copies; the originals are never modified), or
 *  - a new consumer group <name> on that replay stream, created before the copy starts, so
 *    subscribers (GET /events/subscribe?replay=<name>&group=<name>) receive every replayed event.
 */
import type { EventStore, ReadQuery, StoreFactory, StoredEvent } from "./store/types";
import type { Rate } from "../../src/config/units";
import type { Logger } from "../../src/core/log";

export interface ReplaySelection {
  query: Omit<ReadQuery, "limit" | "afterId">;
  rate: Rate;
  maxEvents: number;
}

/** Paced iteration over the selection (rate = events per period; sleeps between chunks). */
export async function* selectEvents(store: EventStore, sel: ReplaySelection, signal?: AbortSignal): AsyncGenerator<StoredEvent> {
  const perMs = sel.rate.limit / sel.rate.periodMs;
  const started = performance.now();
  let sent = 0;
  let after: string | undefined;
  while (sent < sel.maxEvents && !signal?.aborted) {
    const page = await store.read({ ...sel.query, afterId: after, limit: Math.min(500, sel.maxEvents - sent), scanLimit: 50_000 });
    for (const e of page.events) {
      if (signal?.aborted) return;
      const due = started + sent / perMs;
      const wait = due - performance.now();
      if (wait > 1) await Bun.sleep(wait);
      yield e;
      sent++;
    }
    if (!page.next) return;
    after = page.next;
  }
}

export function ndjsonReplay(store: EventStore, sel: ReplaySelection, log: Logger): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const abort = new AbortController();
  let it: AsyncGenerator<StoredEvent>;
  return new ReadableStream<Uint8Array>({
    start() { it = selectEvents(store, sel, abort.signal); },
    async pull(controller) {
      try {
        const chunk: string[] = [];
        for (let i = 0; i < 100; i++) {
          const n = await it.next();
          if (n.done) break;
          chunk.push(JSON.stringify(n.value));
        }
        if (chunk.length === 0) { controller.close(); return; }
        controller.enqueue(enc.encode(chunk.join("\n") + "\n"));
      } catch (err) {
        log.warn("replay to response failed", { err });
        controller.error(err);
      }
    },
    cancel() { abort.abort(); },
  });
}

export interface ReplayJob {
  id: string;
  target: { type: "stream" | "group"; name: string; stream: string };
  status: "running" | "done" | "failed" | "cancelled";
  copied: number;
  startedAt: string;
  finishedAt?: string;
  error?: string;
}

export function replayStreamName(mainStream: string, name: string): string {
  return `${mainStream}:replay:${name}`;
}

/** Copy the selection into a replay stream in the background; the job record reports progress. */
export async function startCopyReplay(factory: StoreFactory, source: EventStore, sel: ReplaySelection, target: ReplayJob["target"], signal: AbortSignal, log: Logger): Promise<ReplayJob> {
  const dest = factory.open(target.stream);
  if (target.type === "group") await dest.ensureGroup(target.name, "0");
  const job: ReplayJob = { id: crypto.randomUUID(), target, status: "running", copied: 0, startedAt: new Date().toISOString() };
  void (async () => {
    try {
      let buf: StoredEvent[] = [];
      const flush = async () => {
        if (!buf.length) return;
        await dest.append(buf.map(({ streamId: _s, ...e }) => e), { dedupWindowMs: 0 });
        job.copied += buf.length;
        buf = [];
      };
      let last = performance.now();
      for await (const e of selectEvents(source, sel, signal)) {
        buf.push(e);
        // Flush at 100 events or every 20 ms so a slow paced replay still shows up promptly.
        if (buf.length >= 100 || performance.now() - last > 20) { await flush(); last = performance.now(); }
      }
      await flush();
      job.status = signal.aborted ? "cancelled" : "done";
    } catch (err) {
      job.status = "failed";
      job.error = (err as Error).message;
      log.warn("replay copy failed", { replay: job.id, err });
    }
    job.finishedAt = new Date().toISOString();
  })();
  return job;
}
