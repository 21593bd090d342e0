/**
 * The load generator's answers (bench/peers/chaos-load.ts), in 100-ms buckets by arrival time, and the
 * views bench/chaos.bench.ts takes of them: statuses in a window, failure share, silent stretches.
 */
export type Statuses = Record<string, number>;
export interface Bucket { t: number; n: Statuses; ok: number }

export const total = (s: Statuses) => Object.values(s).reduce((a, b) => a + b, 0);
/** Anything but a 2xx is a failure for the client: coded 503s, 5xx, timeouts, connection errors. */
export const failed = (s: Statuses) => Object.entries(s).filter(([k]) => !/^2\d\d$/.test(k)).reduce((a, [, v]) => a + v, 0);
export const fmtStatuses = (s: Statuses) => Object.entries(s).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k.replace(":", " ")}: ${v}`).join(", ") || "none";
export const pct = (s: Statuses) => (total(s) ? `${((100 * failed(s)) / total(s)).toFixed(2)} %` : "n/a");
export const ms = (x: number) => (Number.isNaN(x) ? "—" : `${Math.round(x)} ms`);

export class Buckets {
  readonly list: Bucket[] = [];

  /** Reads JSON lines until the generator's stdout closes. */
  async read(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("{")) this.list.push(JSON.parse(line));
      }
    }
  }

  /** Buckets that ended in (from, until]. */
  between(from: number, until: number): Bucket[] {
    return this.list.filter((b) => b.t > from && b.t <= until);
  }

  statuses(from: number, until: number): Statuses {
    const out: Statuses = {};
    for (const b of this.between(from, until)) for (const [k, v] of Object.entries(b.n)) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  /** Time of the first 2xx at or after `from` (NaN if none). */
  firstOk(from: number): number {
    return this.list.find((b) => b.ok >= from)?.ok ?? NaN;
  }

  /** End of the last bucket in (from, until] that held a failure, ms after `from` (0: none). */
  lastFailure(from: number, until: number): number {
    const last = this.between(from, until).filter((b) => failed(b.n) > 0).pop();
    return last ? last.t - from : 0;
  }

  /** Longest run of buckets in which no request got any answer, and where it began (ms after `from`). */
  silent(from: number, until: number): { ms: number; at: number } {
    let run = 0, best = 0, at = 0;
    for (const b of this.between(from, until)) {
      run = total(b.n) === 0 ? run + 100 : 0;
      if (run > best) { best = run; at = b.t - run - from; }
    }
    return { ms: best, at };
  }
}
