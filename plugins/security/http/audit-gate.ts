/**
 * Fail closed on the audit log: no answer leaves the plugin before the audit lines appended for it are
 * on file. Lines are batched (one write per event-loop turn, src/lib/audit/log.ts), so an answer waits
 * for the batch its lines are in, never for a write of its own; when that write fails the lines stay
 * queued (tried again with the next batch) and the answer is replaced by 503 SEC_ERR_AUDIT_UNAVAILABLE:
 * a validation, read or change whose trail could be lost is never acknowledged. One rule for both
 * lanes: afterAudit (the raw wire lane, fast-wire.ts) and auditGate (every fetch-lane Response).
 */
import type { AuditLog } from "../../../src/lib/audit/log";
import { requestIdOf } from "../../../src/core/http";
import { SecErrors } from "../errors";

type Handler = (req: Request) => Response | Promise<Response>;

/**
 * The raw lane's gate: `gate(x)` calls `deliver(x, true)` once every line appended so far is written (at
 * once when nothing is queued), `deliver(x, false)` when that write failed. The answers of one audit
 * batch wait together behind one whenSynced callback: no promise or closure per request.
 */
export function afterAudit<T>(audit: AuditLog, deliver: (x: T, audited: boolean) => void): (x: T) => void {
  let waiting: T[] = [];
  const release = (err?: unknown) => {
    const list = waiting;
    waiting = [];
    for (const x of list) {
      try { deliver(x, err === undefined); } catch { /* one answer's failure must not keep the others waiting */ }
    }
  };
  return (x) => {
    if (!audit.queued) { deliver(x, true); return; }
    if (waiting.length === 0) audit.whenSynced(release);
    waiting.push(x);
  };
}

/** The same rule as a value or a promise (the fetch lane answers with a Response or a promise of one). */
export function whenAudited<T>(audit: AuditLog, answer: T, refused: () => T): T | Promise<T> {
  return audit.queued ? audit.synced().then(() => answer, refused) : answer;
}

/** The refusal when the audit line could not be written. */
export const auditRefusal = () => SecErrors.SEC_ERR_AUDIT_UNAVAILABLE(undefined, undefined, undefined, { "retry-after": "1" });

export function auditGate(audit: AuditLog, handler: Handler): Handler {
  const gate = (req: Request, res: Response): Response | Promise<Response> =>
    whenAudited(audit, res, () => auditRefusal().toResponse({ "x-request-id": res.headers.get("x-request-id") ?? requestIdOf(req) }));
  return (req) => {
    const res = handler(req);
    return res instanceof Promise ? res.then((r) => gate(req, r)) : gate(req, res);
  };
}
