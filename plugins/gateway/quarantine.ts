/**
 * The gateway's side of a quarantine (the falco plugin's response, plugins/falco/README.md): while a service
 * is quarantined its routes answer 503 GW_ERR_SERVICE_QUARANTINED before any upstream call, and bearer
 * tokens whose subject is the service are refused as revoked, until the matching lift. The set is kept in
 * the shared pool (a reload keeps it) and fed by "service.quarantine" on the bus (from other processes
 * through the bus bridge, which replays every retained quarantine at start).
 */
import type { Bus } from "../../src/core/bus";
import type { SharedPool } from "../../src/core/shared-pool";
import type { Logger } from "../../src/core/log";

export interface QuarantineEntry { reason: string; at: number; by: string; rule?: string }
export type QuarantineSet = Map<string, QuarantineEntry>;

export function quarantineSet(shared: SharedPool): QuarantineSet {
  return shared.getOrCreate("gateway:quarantine", () => new Map<string, QuarantineEntry>());
}

/** Follow the bus; returns the unsubscribe function. */
export function followQuarantines(bus: Bus, set: QuarantineSet, log: Logger): () => void {
  return bus.on("service.quarantine", (q) => {
    if (typeof q?.service !== "string" || q.service === "") return;
    if (q.action === "quarantine") {
      if (!set.has(q.service)) log.warn("service quarantined: its routes answer 503 and its tokens are refused", { service: q.service, reason: q.reason, by: q.by, rule: q.rule });
      set.set(q.service, { reason: q.reason, at: q.at, by: q.by, ...(q.rule ? { rule: q.rule } : {}) });
    } else if (q.action === "lift" && set.delete(q.service)) {
      log.warn("service quarantine lifted", { service: q.service, by: q.by });
    }
  }, { replay: true });
}
