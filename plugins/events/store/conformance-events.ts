/** Events and append options the store conformance suite (conformance.ts) and the stores' own tests build on. */
import type { NewEvent } from "./types";

let n = 0;
export function newEvent(type = "market.data_update", payload: Record<string, unknown> = { symbol: "BTC/USDT", price: 100 }, extra: Partial<NewEvent> = {}): NewEvent {
  return { id: crypto.randomUUID(), type: type as NewEvent["type"], source: "conformance", time: new Date().toISOString(), correlationId: `c-${++n}`, schemaVersion: 1, payload: payload as any, ...extra };
}

/** A dedup window long enough for any test. */
export const W = { dedupWindowMs: 60_000 };
