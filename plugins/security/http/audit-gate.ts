/**
 * Fail closed on the audit log: no answer leaves the plugin before the audit lines appended for it are
 * on file. Lines are batched (one write per event-loop turn, src/lib/audit/log.ts), so an answer waits
 * for the batch its lines are in, never for a write of its own; when that write fails the lines stay
 * queued (tried again with the next batch) and the answer is replaced by 503 SEC_ERR_AUDIT_UNAVAILABLE:
 * a validation, read or change whose trail could be lost is never acknowledged.
 */
import type { AuditLog } from "../../../src/lib/audit/log";
import { requestIdOf } from "../../../src/core/http";
import { SecErrors } from "../errors";

type Handler = (req: Request) => Response | Promise<Response>;

export function auditGate(audit: AuditLog, handler: Handler): Handler {
  const refused = (req: Request, res?: Response) =>
    SecErrors.SEC_ERR_AUDIT_UNAVAILABLE().toResponse({ "x-request-id": res?.headers.get("x-request-id") ?? requestIdOf(req), "retry-after": "1" });
  // Nothing queued (this answer's lines, if any, are already written): answer at once.
  const gate = (req: Request, res: Response): Response | Promise<Response> =>
    audit.queued ? audit.synced().then(() => res, () => refused(req, res)) : res;
  return (req) => {
    const res = handler(req);
    return res instanceof Promise ? res.then((r) => gate(req, r)) : gate(req, res);
  };
}
