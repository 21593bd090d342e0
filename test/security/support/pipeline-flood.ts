/**
 * A client that pipelines without reading: one raw connection, reading paused from the start, writing
 * the same request over and over as fast as the kernel takes the bytes (socket backpressure), while
 * the gateway's RSS is sampled from /proc. Then, optionally, it starts reading and counts the answers
 * (status codes in order), so every request written is known to have been answered. Every phase is
 * bounded in time.
 */
import type { Socket } from "bun";

export interface FloodResult {
  /** Requests the kernel took (written in full). */
  written: number;
  /** Peak RSS (bytes) while the client was not reading. */
  peakNoRead: number;
  /** Peak RSS (bytes) while the answers were read (0 when not read). */
  peakReading: number;
  /** Status codes of the answers read, counted by code. */
  statuses: Record<number, number>;
  answered: number;
  closedByServer: boolean;
}

interface State { got: Buffer[]; drained: boolean; closed: boolean; wake: (() => void) | null }

/**
 * Write `total` copies of `request` without reading (for at most `writeMs`, or until the kernel takes
 * nothing for `stallMs`); then, if `readMs` > 0, read the answers for at most `readMs`.
 */
export async function pipelineFlood(port: number, request: string, opts: { total: number; writeMs: number; stallMs: number; readMs: number; rss: () => number }): Promise<FloodResult> {
  const one = Buffer.from(request, "latin1");
  const batchCount = 1000;
  const batch = Buffer.concat(Array.from({ length: batchCount }, () => one));
  const st: State = { got: [], drained: false, closed: false, wake: null };
  const wake = () => { const w = st.wake; st.wake = null; w?.(); };
  const sock: Socket<State> = await Bun.connect<State>({
    hostname: "127.0.0.1",
    port,
    data: st,
    socket: {
      binaryType: "buffer",
      open(s) { s.pause(); }, // never read until told to
      data(s, d) { s.data.got.push(d as Buffer); wake(); },
      drain(s) { s.data.drained = true; wake(); },
      close(s) { s.data.closed = true; wake(); },
      error(s) { s.data.closed = true; wake(); },
    },
  });
  sock.pause();
  const nap = (ms: number) => new Promise<void>((r) => { const t = setTimeout(() => { st.wake = null; r(); }, ms); st.wake = () => { clearTimeout(t); r(); }; });

  let peakNoRead = opts.rss();
  const totalBytes = one.length * opts.total;
  let sent = 0;
  const t0 = Date.now();
  let lastProgress = t0;
  while (sent < totalBytes && !st.closed && Date.now() - t0 < opts.writeMs && Date.now() - lastProgress < opts.stallMs) {
    const at = sent % batch.length;
    const n = sock.write(batch.subarray(at, Math.min(batch.length, at + totalBytes - sent)));
    if (n > 0) { sent += n; lastProgress = Date.now(); }
    peakNoRead = Math.max(peakNoRead, opts.rss());
    if (n <= 0 || sent % batch.length !== 0) { st.drained = false; await nap(20); } // the kernel is full: offer again shortly
    else await nap(0);
  }
  // Keep not reading a little longer: what the gateway still does with what it holds shows up now.
  const holdUntil = Date.now() + 500;
  while (Date.now() < holdUntil) { peakNoRead = Math.max(peakNoRead, opts.rss()); await Bun.sleep(20); }

  const written = Math.floor(sent / one.length);
  const statuses: Record<number, number> = {};
  let answered = 0;
  let peakReading = 0;
  if (opts.readMs > 0 && !st.closed) {
    // Send the rest of a request cut by the stop, so the pipeline ends on a whole request.
    if (sent % one.length !== 0) sock.write(one.subarray(sent % one.length));
    sock.resume();
    const r0 = Date.now();
    let carry = "";
    while (answered < written && !st.closed && Date.now() - r0 < opts.readMs) {
      await nap(50);
      peakReading = Math.max(peakReading, opts.rss());
      if (st.got.length === 0) continue;
      const text = carry + Buffer.concat(st.got.splice(0)).toString("latin1");
      // Status lines only: the bodies are small JSON and never contain "HTTP/1.1 ".
      let i = 0;
      for (;;) {
        const k = text.indexOf("HTTP/1.1 ", i);
        if (k === -1 || k + 12 > text.length) { carry = text.slice(k === -1 ? Math.max(i, text.length - 11) : k); break; }
        const code = Number(text.slice(k + 9, k + 12));
        statuses[code] = (statuses[code] ?? 0) + 1;
        answered++;
        i = k + 12;
      }
    }
  }
  const closedByServer = st.closed;
  sock.terminate();
  return { written, peakNoRead, peakReading, statuses, answered, closedByServer };
}
