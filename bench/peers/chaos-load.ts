/**
 * Closed-loop load for bench/chaos.bench.ts, in its own process so that the bench's own timers (event
 * publisher, pollers) are not starved by the request loop.
 *   bun run bench/peers/chaos-load.ts <url> <concurrency> <maxSeconds> [optionsJson]
 * optionsJson (bench/soak.bench.ts): {"headers": {...}, "pauseMs": n} — headers on every request (a bearer
 * token), and a pause after each answer per worker (a paced loop for a soak, instead of flat out).
 * Each worker sends the next GET when the previous answer is read, with a per-request deadline. Every
 * 100 ms one JSON line goes to stdout: {t, n: {"200": k, "503:GW_ERR_CIRCUIT_OPEN": m, "err": e}, ok}
 * where `ok` is the time of the first 2xx in that bucket (the bench reads the first 2xx after a full
 * outage from it). Stops on stdin close, SIGTERM, or after maxSeconds, whichever comes first.
 */
export {}; // a module: top-level await, and names that do not collide with the other peer scripts
const [url, concArg, maxArg, optArg] = process.argv.slice(2);
const opts = JSON.parse(optArg ?? "{}") as { headers?: Record<string, string>; pauseMs?: number };
const headers = opts.headers ?? {};
const pauseMs = Math.max(0, Number(opts.pauseMs ?? 0));
const concurrency = Number(concArg ?? 16);
const stopAt = Date.now() + Number(maxArg ?? 240) * 1000;
const DEADLINE_MS = 5000; // above the route's 3 s timeout: a request cut here is a stall, counted as "timeout"
let running = true;
let counts: Record<string, number> = {};
let firstOk = 0;

function count(key: string) { counts[key] = (counts[key] ?? 0) + 1; }

async function once(): Promise<void> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(DEADLINE_MS) });
    const text = await res.text();
    if (res.status >= 200 && res.status < 300) {
      if (!firstOk) firstOk = Date.now();
      count(String(res.status));
      return;
    }
    // Coded gateway errors tell which layer refused (breaker, no healthy instance, upstream).
    const code = /"code":"([A-Z_]+)"/.exec(text)?.[1];
    count(code ? `${res.status}:${code}` : String(res.status));
  } catch (err) {
    count((err as Error)?.name === "TimeoutError" ? "timeout" : "err");
  }
}

async function worker() {
  while (running && Date.now() < stopAt) {
    await once();
    if (pauseMs) await Bun.sleep(pauseMs);
  }
}

const flush = () => {
  process.stdout.write(`${JSON.stringify({ t: Date.now(), n: counts, ok: firstOk })}\n`);
  counts = {};
  firstOk = 0;
};
const timer = setInterval(flush, 100);
const stop = () => { running = false; };
process.on("SIGTERM", stop);
process.stdin.on("close", stop);
process.stdin.resume();
await Promise.all(Array.from({ length: concurrency }, worker));
clearInterval(timer);
flush();
process.exit(0);
