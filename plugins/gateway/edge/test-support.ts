/**
 * Test fixtures for the edge (used by *.test.ts here only): a real PluginContext (logger capturing
 * lines, prom-client registry, bus, shared pool) and an EdgeRoute builder.
 */
import { Value } from "@sinclair/typebox/value";
import { createLogger } from "../../../src/core/log";
import { createPluginMetrics } from "../../../src/core/metrics";
import { createBus } from "../../../src/core/bus";
import { createSharedPool } from "../../../src/core/shared-pool";
import { HostSchema } from "../../../src/config/host-schema";
import type { PluginContext } from "../../../src/core/plugin";
import type { EdgeRoute } from "./contract";
import { parseRate } from "../../../src/config/units";

export interface TestContext extends PluginContext {
  lines: Record<string, any>[];
  abort: AbortController;
}

export function testContext(host: Record<string, unknown> = {}, shared = createSharedPool()): TestContext {
  const lines: Record<string, any>[] = [];
  const log = createLogger({ level: "debug", sink: (l) => lines.push(JSON.parse(l)), fields: { plugin: "gateway" } });
  const abort = new AbortController();
  return {
    id: "gateway",
    log,
    metrics: createPluginMetrics("gateway"),
    bus: createBus(log),
    shared,
    signal: abort.signal,
    host: Value.Decode(HostSchema, Value.Default(HostSchema, { ...host })),
    lines,
    abort,
  };
}

export function route(name: string, opts: { auth?: boolean; scopes?: string[]; rate?: string } = {}): EdgeRoute {
  return { service: name.split(":")[0], route: name, authRequired: opts.auth ?? false, scopes: opts.scopes ?? [], rateLimit: opts.rate ? parseRate(opts.rate) : undefined };
}

/** check() may be sync or async; tests want the value. */
export async function decide<T>(v: T | Promise<T>): Promise<T> {
  return await v;
}

export const uniquePrefix = () => `tradpal:test:edge:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2, 8)}:`;
