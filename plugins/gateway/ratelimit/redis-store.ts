/**
 * Cluster-wide GCRA in Redis. Each decision is made inside one Lua script (read TAT, decide, write
 * TAT, atomically), run with EVALSHA and re-sent with EVAL on NOSCRIPT (ioredis defineCommand), with
 * Redis's TIME as the one clock of every gateway.
 *
 * Self-clocking batches: while a script call is in flight, new decisions queue; when it returns, the
 * queue goes out as the next call — one key per distinct counter with the number of requests waiting
 * on it, each decided in order inside the script. At low load every decision goes alone at once; under
 * load a hot key costs one Redis command per round trip instead of one per request, with the same
 * outcome as deciding them one by one.
 */
import type Redis from "../../../src/lib/redis";
import type { GcraPolicy, RateDecision } from "./gcra";

const GCRA_BATCH_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local out = {}
for i = 1, #KEYS do
  local e = tonumber(ARGV[3 * i - 2])
  local period = tonumber(ARGV[3 * i - 1])
  local n = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  local room = math.floor((period - (tat - now)) / e + 0.000000001)
  if room < 0 then room = 0 end
  local k = n
  if room < k then k = room end
  local nxt = tat + k * e
  if k > 0 then redis.call('SET', KEYS[i], string.format('%.4f', nxt), 'PX', math.ceil(nxt - now) + 1000) end
  out[#out + 1] = k
  out[#out + 1] = math.floor((period - (nxt - now)) / e + 0.000000001)
  out[#out + 1] = math.ceil(nxt - now)
  out[#out + 1] = math.ceil(nxt + e - now - period)
end
return out
`;

/** Counters per script call: bounds the time one script holds Redis. */
const MAX_KEYS_PER_CALL = 256;

interface Waiter { resolve(d: RateDecision): void; reject(err: unknown): void }
interface Pending { p: GcraPolicy; waiters: Waiter[] }

type BatchCommand = (numKeys: number, ...args: string[]) => Promise<number[]>;

export class RedisRateStore {
  private readonly run: BatchCommand;
  private queue = new Map<string, Pending>();
  private busy = false;

  constructor(readonly client: Redis, private readonly prefix: string) {
    const c: Redis & { tradpalGcraBatch?: BatchCommand } = client;
    if (!c.tradpalGcraBatch) client.defineCommand("tradpalGcraBatch", { lua: GCRA_BATCH_LUA }); // numkeys given per call
    this.run = c.tradpalGcraBatch!.bind(client);
  }

  /** Redis key of one policy and caller: the signature keeps counters of a changed policy apart. */
  keyOf(p: GcraPolicy, key: string): string {
    return `${this.prefix}${p.signature}:${key}`;
  }

  decide(p: GcraPolicy, key: string): Promise<RateDecision> {
    return new Promise<RateDecision>((resolve, reject) => {
      const rk = this.keyOf(p, key);
      let entry = this.queue.get(rk);
      if (entry === undefined) this.queue.set(rk, (entry = { p, waiters: [] }));
      entry.waiters.push({ resolve, reject });
      if (!this.busy) this.flush();
    });
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
    for (const e of batch.values()) args.push(e.p.emissionArg, e.p.periodArg, String(e.waiters.length));
    let call: Promise<number[]>;
    try {
      call = this.run(keys.length, ...keys, ...args);
    } catch (err) {
      call = Promise.reject(err); // never leave the queue "busy" with waiters that cannot settle
    }
    call.then(
      (out) => {
        let i = 0;
        for (const e of batch.values()) distribute(e.waiters, out[i], out[i + 1], out[i + 2], out[i + 3]), (i += 4);
      },
      (err) => {
        for (const e of batch.values()) for (const w of e.waiters) w.reject(err);
        // Whatever queued behind a failed call would most likely wait out the same timeout: fail it now.
        const queued = this.queue;
        this.queue = new Map();
        for (const e of queued.values()) for (const w of e.waiters) w.reject(err);
      },
    ).finally(() => this.flush());
  }
}

/** The first `allowed` waiters pass (in arrival order), the rest are refused until the next slot. */
function distribute(waiters: Waiter[], allowed: number, remainingAfter: number, resetMs: number, retryMs: number): void {
  for (let j = 0; j < waiters.length; j++) {
    if (j < allowed) waiters[j].resolve({ allowed: true, remaining: Math.max(0, remainingAfter + (allowed - 1 - j)), resetMs, retryAfterMs: 0 });
    else waiters[j].resolve({ allowed: false, remaining: 0, resetMs: Math.max(1, retryMs), retryAfterMs: Math.max(1, retryMs) });
  }
}
