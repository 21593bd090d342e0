/**
 * Server-sent events for the dashboard: each subscriber is a ReadableStream controller; a message is
 * encoded once and written to all. Subscribers that fail to take a write are dropped.
 */
const encoder = new TextEncoder();

export class EventStream {
  private readonly clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  private closed = false;

  get size(): number { return this.clients.size; }

  /** A Response that stays open and receives every later `send`. `first` is written at once. */
  open(first?: { event: string; data: unknown }, signal?: AbortSignal): Response {
    let ctrl: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        ctrl = c;
        if (this.closed) { c.close(); return; }
        this.clients.add(c);
        c.enqueue(encoder.encode(`retry: 2000\n\n`));
        if (first) c.enqueue(frame(first.event, first.data));
      },
      cancel: () => { this.clients.delete(ctrl); },
    });
    signal?.addEventListener("abort", () => { this.clients.delete(ctrl); try { ctrl.close(); } catch { /* gone */ } }, { once: true });
    return new Response(stream, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", connection: "keep-alive", "x-accel-buffering": "no" },
    });
  }

  send(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const bytes = frame(event, data);
    for (const c of this.clients) {
      try { c.enqueue(bytes); } catch { this.clients.delete(c); }
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients) { try { c.close(); } catch { /* gone */ } }
    this.clients.clear();
  }
}

function frame(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
