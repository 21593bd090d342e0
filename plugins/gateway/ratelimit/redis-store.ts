/**
 * Cluster-wide GCRA in Redis. Each decision is made inside one Lua script (read TAT, decide, write
 * TAT, atomically), run with EVALSHA and re-sent with EVAL on NOSCRIPT (ioredis defineCommand), with
 * Redis's TIME as the one clock of every gateway.
 *
 * Self-clocking batches: while a script call is in flight, new decisions queue; when it returns, the
 * queue goes out as the next call — one key per distinct counter with the number of requests waiting
 * on it, each decided in order inside the script. At low load every decision goes alone; under
 * load a hot key costs one Redis command per round trip instead of one per request, with the same
 * outcome as deciding them one by one. The first call after a quiet spell leaves at the end of the
 * turn's synchronous work (a microtask), with every decision asked in that turn.
 *
 * The call's shape is chosen for the client's CPU, which was most of a decision's cost with 1,000
 * subjects (profiled: building and parsing one RESP element per argument and per result): the keys are
 * KEYS, each policy's numbers go once, every key's (policy, count) is one packed argument, and the
 * answers come back as one string of numbers read in place.
 */
import type Redis from "../../../src/lib/redis";
import type { GcraPolicy, RateDecision } from "./gcra";

/**
 * KEYS: the counters. ARGV: emission and period of each policy in the call (2 per policy), then
 * "<policy index> <requests>" for every key, space-separated. Returns "<allowed> <remaining after>
 * <reset ms> <retry ms>" per key, joined by ";" (Lua prints integral numbers without a fraction).
 */
const GCRA_BATCH_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local out = {}
local i = 0
for pi, n in string.gmatch(ARGV[#ARGV], '(%d+) (%d+)') do
  i = i + 1
  local e = tonumber(ARGV[2 * pi + 1])
  local period = tonumber(ARGV[2 * pi + 2])
  n = tonumber(n)
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  local room = math.floor((period - (tat - now)) / e + 0.000000001)
  if room < 0 then room = 0 end
  local k = n
  if room < k then k = room end
  local nxt = tat + k * e
  if k > 0 then redis.call('SET', KEYS[i], string.format('%.4f', nxt), 'PX', math.ceil(nxt - now) + 1000) end
  out[i] = k .. ' ' .. math.floor((period - (nxt - now)) / e + 0.000000001) .. ' ' .. math.ceil(nxt - now) .. ' ' .. math.ceil(nxt + e - now - period)
end
return table.concat(out, ';')
`;

/** Counters per script call: bounds the time one script holds Redis. */
const MAX_KEYS_PER_CALL = 256;
/** Full Redis keys remembered per policy (the subject → key string): beyond it the memo starts afresh. */
const MAX_MEMO_KEYS = 10_000;

/**
 * What the caller wants made of a decision, and its two arguments: the answer is `map(decision, a, b)`,
 * so a caller's own step (the edge's headers and verdict) costs no promise and closure of its own.
 */
export type DecisionMap<T, A, B> = (d: RateDecision, a: A, b: B) => T;

/** Each waiter: resolve, map, a, b. */
const STRIDE = 4;

/** The decisions waiting on one counter (the caller's `key` under policy `p`), in arrival order, STRIDE slots each. */
interface Pending { p: GcraPolicy; key: string; waiters: unknown[] }

/** How a decision is made when its script call failed (the limiter's local fallback); it may throw, which rejects. */
export type FailedDecision = (err: unknown, p: GcraPolicy, key: string) => RateDecision;

type BatchCommand = (numKeys: number, keys: string[], args: string[]) => Promise<string>;

export class RedisRateStore {
  private readonly run: BatchCommand;
  private queue = new Map<string, Pending>();
  /** A call is in flight, or one is due at the end of this turn's synchronous work. */
  private busy = false;
  /** flush(), made once (no closure per decision). */
  private readonly flushNow = () => this.flush();
  /** Per policy, the caller key → its Redis key (one flat string a request reuses, not a new one each time). */
  private readonly memo = new WeakMap<GcraPolicy, Map<string, string>>();

  constructor(readonly client: Redis, private readonly prefix: string, private readonly failed: FailedDecision) {
    const c = client as Redis & { tradpalGcraBatch2?: BatchCommand };
    if (!c.tradpalGcraBatch2) client.defineCommand("tradpalGcraBatch2", { lua: GCRA_BATCH_LUA }); // numkeys given per call
    this.run = c.tradpalGcraBatch2!.bind(client);
  }

  /** Redis key of one policy and caller: the signature keeps counters of a changed policy apart. */
  keyOf(p: GcraPolicy, key: string): string {
    let keys = this.memo.get(p);
    if (keys === undefined) this.memo.set(p, (keys = new Map()));
    let rk = keys.get(key);
    if (rk === undefined) {
      if (keys.size >= MAX_MEMO_KEYS) keys.clear();
      rk = this.prefix + p.signature + ":" + key;
      keys.set(key, rk);
    }
    return rk;
  }

  /** `map(decision, a, b)` once decided. Never rejects while `failed` and `map` answer: a failed call's decisions are made by `failed`. */
  decide<T, A, B>(p: GcraPolicy, key: string, map: DecisionMap<T, A, B>, a: A, b: B): Promise<T> {
    const rk = this.keyOf(p, key);
    let entry = this.queue.get(rk);
    if (entry === undefined) this.queue.set(rk, (entry = { p, key, waiters: [] }));
    const waiters = entry.waiters;
    const decided = new Promise<T>((resolve) => { waiters.push(resolve, map, a, b); });
    // The first decision of a quiet spell waits for the rest of this turn's (a turn of the host's front
    // handles every request that came in it), so they go in one call, not one alone and the rest after it.
    if (!this.busy) { this.busy = true; queueMicrotask(this.flushNow); }
    return decided;
  }

  private flush(): void {
    if (this.queue.size === 0) {
      this.busy = false;
      return;
    }
    this.busy = true;
    let batch: Map<string, Pending>;
    if (this.queue.size <= MAX_KEYS_PER_CALL) {
      batch = this.queue;
      this.queue = new Map();
    } else {
      batch = new Map();
      for (const [k, v] of this.queue) {
        if (batch.size >= MAX_KEYS_PER_CALL) break;
        batch.set(k, v);
        this.queue.delete(k);
      }
    }
    const keys = [...batch.keys()];
    const args: string[] = [];
    let spec = "";
    let last: GcraPolicy | undefined;
    let index = -1;
    for (const e of batch.values()) {
      if (e.p !== last) index = policyIndex(args, e.p), (last = e.p);
      spec += (spec === "" ? "" : " ") + index + " " + e.waiters.length / STRIDE;
    }
    args.push(spec);
    let call: Promise<string>;
    try {
      call = this.run(keys.length, keys, args);
    } catch (err) {
      call = Promise.reject(err); // never leave the queue "busy" with waiters that cannot settle
    }
    call.then(
      (out) => {
        cursor = 0;
        for (const e of batch.values()) distribute(e.waiters, readInt(out), readInt(out), readInt(out), readInt(out));
      },
      (err) => {
        for (const e of batch.values()) this.fail(e, err);
        // Whatever queued behind a failed call would most likely wait out the same timeout: fail it now.
        const queued = this.queue;
        this.queue = new Map();
        for (const e of queued.values()) this.fail(e, err);
      },
    ).finally(() => this.flush());
  }

  /** A failed call: each of the counter's decisions is made by `failed` (a throw there is that decision's rejection). */
  private fail(e: Pending, err: unknown): void {
    const w = e.waiters;
    for (let j = 0; j < w.length; j += STRIDE) {
      let d: RateDecision;
      try { d = this.failed(err, e.p, e.key); } catch (thrown) { settle(w, j, Promise.reject(thrown)); continue; }
      settle(w, j, d);
    }
  }
}

/** The index of `p`'s pair of arguments (emission, period) in `args`, added when new. */
function policyIndex(args: string[], p: GcraPolicy): number {
  for (let i = 0; i < args.length; i += 2) if (args[i] === p.emissionArg && args[i + 1] === p.periodArg) return i >> 1;
  args.push(p.emissionArg, p.periodArg);
  return (args.length >> 1) - 1;
}

/** Where readInt() goes on in the script's answer. */
let cursor = 0;

/** The next (signed) integer of the script's answer, read in place; the separator after it skipped. */
function readInt(s: string): number {
  let i = cursor;
  const negative = s.charCodeAt(i) === 45; /* - */
  if (negative) i++;
  let n = 0;
  for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) n = n * 10 + (c - 48);
  cursor = i + 1;
  return negative ? -n : n;
}

/** The first `allowed` waiters pass (in arrival order), the rest are refused until the next slot. */
function distribute(w: unknown[], allowed: number, remainingAfter: number, resetMs: number, retryMs: number): void {
  for (let j = 0, n = 0; j < w.length; j += STRIDE, n++) {
    if (n < allowed) settle(w, j, { allowed: true, remaining: Math.max(0, remainingAfter + (allowed - 1 - n)), resetMs, retryAfterMs: 0 });
    else settle(w, j, { allowed: false, remaining: 0, resetMs: Math.max(1, retryMs), retryAfterMs: Math.max(1, retryMs) });
  }
}

/** Resolve the waiter at `w[j]` with its map of `d` (a rejected promise rejects it; so does a map that throws). */
function settle(w: unknown[], j: number, d: RateDecision | Promise<never>): void {
  const resolve = w[j] as (v: unknown) => void;
  if (d instanceof Promise) { resolve(d); return; }
  try {
    resolve((w[j + 1] as DecisionMap<unknown, unknown, unknown>)(d, w[j + 2], w[j + 3]));
  } catch (err) {
    resolve(Promise.reject(err));
  }
}
