/** Test helper: a raw SSE reader over fetch (no client library), so tests see exactly what the wire carries. */

export interface SseEvent { id: string; type: string; data: any }

export interface SseReader {
  events: SseEvent[];
  /** Resolves when at least n events arrived (or rejects after timeoutMs). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  /** Abort the connection (like a killed subscriber). */
  close(): void;
  status: number;
}

export async function openSse(url: string): Promise<SseReader> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal, headers: { accept: "text/event-stream" } });
  const events: SseEvent[] = [];
  const r: SseReader = {
    events,
    status: res.status,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${events.length}/${n} SSE events within ${timeoutMs} ms`);
        await Bun.sleep(5);
      }
    },
    close() { abort.abort(); },
  };
  if (!res.ok || !res.body) return r;
  void (async () => {
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const ev: Partial<SseEvent> = {};
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) ev.id = line.slice(4);
            else if (line.startsWith("event: ")) ev.type = line.slice(7);
            else if (line.startsWith("data: ")) ev.data = JSON.parse(line.slice(6));
          }
          if (ev.data) events.push(ev as SseEvent);
        }
      }
    } catch { /* aborted */ }
  })();
  return r;
}

export const json = (body: unknown, headers: Record<string, string> = {}) => ({ method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
