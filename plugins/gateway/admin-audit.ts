/**
 * The gateway's audit trail of routing changes: every registration, removal, runtime service change
 * and every refusal of one, with who asked (admin-token / jwt:<sub> / api_key:<name> / anonymous),
 * the client IP, the service, the instance url and the outcome. One hash-chained log per file
 * (src/lib/audit), shared through the pool so a reload's old and new instance extend one chain.
 */
import { join } from "node:path";
import { createAuditLog, type AuditLog } from "../../src/lib/audit/log";
import type { AuditFields } from "../../src/lib/audit/chain";
import type { SharedPool } from "../../src/core/shared-pool";

export interface AdminEvent {
  who: string;
  action: "register" | "deregister" | "service.create" | "service.delete";
  service: string;
  ip: string;
  url?: string;
  outcome: AuditFields["outcome"];
  /** The HTTP status answered and, for a refusal, its code and reason. */
  status: number;
  code?: string;
  reason?: string;
  request_id?: string;
}

export type AdminAudit = (e: AdminEvent) => void;

export function adminAuditFile(dataDir: string): string { return join(dataDir, "gateway-audit.log"); }

export function createAdminAudit(shared: SharedPool, dataDir: string, enabled: boolean): { record: AdminAudit; log: AuditLog } {
  const file = adminAuditFile(dataDir);
  const log = shared.getOrCreate<AuditLog>(`gateway:audit:${file}`, () => createAuditLog(file, true));
  const record: AdminAudit = (e) => {
    if (!enabled) return;
    // Extra keys (service, ip, url, status, code) are part of the sealed line like the standard ones.
    const fields = { who: e.who, action: e.action, target: e.url ? `${e.service} ${e.url}` : e.service, outcome: e.outcome, ...(e.request_id ? { request_id: e.request_id } : {}), ...(e.reason ? { reason: e.reason } : {}), service: e.service, ip: e.ip, ...(e.url ? { url: e.url } : {}), status: e.status, ...(e.code ? { code: e.code } : {}) };
    log.append(fields as AuditFields);
  };
  return { record, log };
}
