/**
 * ioredis, as every Redis user in the tree imports it: with Bun's TracingChannel gap closed first.
 *
 * ioredis traces each command through diagnostics_channel unless the channel's `hasSubscribers` is
 * `false`. Bun 1.4.5's TracingChannel has no such property (undefined), so every command paid for a
 * trace nobody listens to: a context object, its arguments turned into strings, a wrapper promise.
 * That was ~13 % of the events server's CPU on a Redis-backed POST /events (profiled). It is defined
 * here as Node defines it: true when any of the tracing channel's five channels has a subscriber, so a
 * tracer that subscribes (OpenTelemetry's ioredis instrumentation) still sees every command.
 */
import dc from "node:diagnostics_channel";
import Redis, { Cluster } from "ioredis";

type Channels = Record<"start" | "end" | "asyncStart" | "asyncEnd" | "error", { hasSubscribers: boolean }>;

const proto = Object.getPrototypeOf(dc.tracingChannel("tradpal:probe")) as object;
if (typeof (dc.tracingChannel("tradpal:probe") as { hasSubscribers?: unknown }).hasSubscribers !== "boolean") {
  Object.defineProperty(proto, "hasSubscribers", {
    configurable: true,
    get(this: Channels): boolean {
      return this.start.hasSubscribers || this.end.hasSubscribers || this.asyncStart.hasSubscribers || this.asyncEnd.hasSubscribers || this.error.hasSubscribers;
    },
  });
}

export { Redis, Cluster };
export type { RedisOptions, ClusterOptions, ClusterNode } from "ioredis";
export default Redis;
