/**
 * Resilience primitives shared by the gateway, the clients and the breaker plugin: backoff, retry,
 * timeout, bulkhead and fallback. Each is small and pure of I/O (the caller passes the work).
 */

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * a uniformly random delay in [0, min(cap, base · 2^attempt)). `attempt` counts from 0.
 */
export function fullJitterBackoff(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

export interface RetryOptions {
  /** Total attempts including the first (1 = no retry). */
  attempts: number;
  baseMs: number;
  capMs: number;
  /** Retry this error? Default: every error. */
  retryOn?: (err: unknown, attempt: number) => boolean;
  /** Stops waiting and retrying. */
  signal?: AbortSignal;
  random?: () => number;
  /** Injected for tests; defaults to a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** setTimeout as a promise that an AbortSignal cuts short (rejects with the signal's reason). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(signal!.reason); };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Run `fn` up to `attempts` times with full-jitter backoff between failures; the last error is thrown. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const wait = opts.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const last = attempt + 1 >= opts.attempts;
      if (last || opts.signal?.aborted || (opts.retryOn && !opts.retryOn(err, attempt))) throw err;
      const delay = fullJitterBackoff(attempt, opts.baseMs, opts.capMs, opts.random);
      opts.onRetry?.(err, attempt, delay);
      await wait(delay, opts.signal);
    }
  }
}

export class TimeoutError extends Error {
  constructor(readonly ms: number) { super(`timed out after ${ms}ms`); this.name = "TimeoutError"; }
}

/**
 * Give `fn` at most `ms`: its signal aborts when time is up (so fetch stops too) and the promise
 * rejects with TimeoutError. An outer signal aborts it as well.
 */
export async function withTimeout<T>(fn: (signal: AbortSignal) => Promise<T>, ms: number, outer?: AbortSignal): Promise<T> {
  const ctrl = new AbortController();
  const error = new TimeoutError(ms);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onOuter = () => ctrl.abort(outer!.reason);
  if (outer?.aborted) throw outer.reason;
  outer?.addEventListener("abort", onOuter, { once: true });
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { ctrl.abort(error); reject(error); }, ms);
  });
  try {
    return await Promise.race([fn(ctrl.signal), expired]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuter);
  }
}

export class BulkheadRejectedError extends Error {
  constructor(readonly bulkhead: string, readonly reason: "queue_full" | "queue_timeout") {
    super(reason === "queue_full" ? `bulkhead ${bulkhead}: queue full` : `bulkhead ${bulkhead}: waited too long for a slot`);
    this.name = "BulkheadRejectedError";
  }
}

/**
 * At most `maxConcurrent` calls at once; up to `maxQueue` more wait (FIFO) at most `queueTimeoutMs`;
 * beyond that a call is refused at once. `tryEnter`/`leave` are the synchronous form for hot paths.
 */
export class Bulkhead {
  private running = 0;
  private readonly queue: { resolve: () => void; timer?: ReturnType<typeof setTimeout> }[] = [];

  constructor(readonly name: string, readonly maxConcurrent: number, readonly maxQueue = 0, readonly queueTimeoutMs = 0) {
    if (!(maxConcurrent >= 1)) throw new RangeError("bulkhead maxConcurrent must be ≥ 1");
  }

  get inFlight(): number { return this.running; }
  get queued(): number { return this.queue.length; }

  /** Take a slot without waiting; false when full. Pair every true with `leave()`. */
  tryEnter(): boolean {
    if (this.running < this.maxConcurrent) { this.running++; return true; }
    return false;
  }

  leave(): void {
    const next = this.queue.shift();
    if (next) { if (next.timer) clearTimeout(next.timer); next.resolve(); return; } // slot handed over
    if (this.running > 0) this.running--;
  }

  /** Wait for a slot (queued) or throw BulkheadRejectedError. */
  async enter(): Promise<void> {
    if (this.tryEnter()) return;
    if (this.queue.length >= this.maxQueue) throw new BulkheadRejectedError(this.name, "queue_full");
    await new Promise<void>((resolve, reject) => {
      const waiter: { resolve: () => void; timer?: ReturnType<typeof setTimeout> } = { resolve };
      if (this.queueTimeoutMs > 0) {
        waiter.timer = setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new BulkheadRejectedError(this.name, "queue_timeout"));
        }, this.queueTimeoutMs);
      }
      this.queue.push(waiter);
    });
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.enter();
    try { return await fn(); } finally { this.leave(); }
  }
}

/** A static response configured per route, served when the upstream cannot be used. */
export interface StaticFallback {
  status: number;
  body: string | Record<string, unknown> | unknown[];
  headers?: Record<string, string>;
}

/** Precompile a fallback once (provision time); the returned function builds a fresh Response per call. */
export function compileFallback(spec: StaticFallback): () => Response {
  const isText = typeof spec.body === "string";
  const body = isText ? (spec.body as string) : JSON.stringify(spec.body);
  const headers: Record<string, string> = { "content-type": isText ? "text/plain; charset=utf-8" : "application/json", "x-fallback": "1", ...spec.headers };
  return () => new Response(body, { status: spec.status, headers });
}

/** Run `fn`; on any error (or when `when` says so) answer with the fallback instead. */
export async function withFallback<T>(fn: () => Promise<T>, fallback: (err: unknown) => T | Promise<T>, when: (err: unknown) => boolean = () => true): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!when(err)) throw err;
    return fallback(err);
  }
}
