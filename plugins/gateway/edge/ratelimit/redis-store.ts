/**
 * Cluster-wide GCRA: one Lua script per decision (read TAT, decide, write TAT, atomically), run with
 * EVALSHA and re-sent with EVAL on NOSCRIPT (ioredis defineCommand does exactly that). The clock is
 * Redis's TIME, so gateways with drifting clocks still share one timeline.
 */
import type Redis from "ioredis";
import type { GcraPolicy, RateDecision } from "./gcra";

const GCRA_LUA = `
local emission = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local nxt = tat + emission
local ahead = nxt - now
if ahead > period + 0.000001 then
  local wait = math.ceil(ahead - period)
  return {0, 0, wait, wait}
end
redis.call('SET', KEYS[1], string.format('%.4f', nxt), 'PX', math.ceil(ahead) + 1000)
return {1, math.floor((period - ahead) / emission + 0.000000001), math.ceil(ahead), 0}
`;

type GcraCommand = (key: string, emissionMs: string, periodMs: string) => Promise<[number, number, number, number]>;

export class RedisRateStore {
  private readonly run: GcraCommand;

  constructor(readonly client: Redis, private readonly prefix: string) {
    if (!(client as any).tradpalGcra) client.defineCommand("tradpalGcra", { numberOfKeys: 1, lua: GCRA_LUA });
    this.run = (client as any).tradpalGcra.bind(client);
  }

  /** Redis key of one policy and caller: the signature keeps counters of a changed policy apart. */
  keyOf(p: GcraPolicy, key: string): string {
    return `${this.prefix}${p.signature}:${key}`;
  }

  async decide(p: GcraPolicy, key: string): Promise<RateDecision> {
    const [allowed, remaining, resetMs, retryAfterMs] = await this.run(this.keyOf(p, key), p.emissionArg, p.periodArg);
    return { allowed: allowed === 1, remaining, resetMs, retryAfterMs };
  }
}
