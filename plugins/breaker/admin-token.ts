/**
 * The operator token for force-open/force-close/disable: from config (BREAKER_ADMIN_TOKEN), or generated
 * once into <data_dir>/breaker/admin-token (mode 0600) and reused across restarts. Only the path is logged.
 */
import { readOrCreateSecret } from "../../src/lib/secret-file";
import { join } from "node:path";
import { timingSafeEqual } from "node:crypto";

export function resolveAdminToken(configured: string, dataDir: string): { token: string; file?: string } {
  if (configured) return { token: configured };
  const file = join(dataDir, "breaker", "admin-token");
  const { value } = readOrCreateSecret(file, () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url"));
  return { token: value, file };
}

/** Constant-time check of `Authorization: Bearer <token>` (or X-Admin-Token). */
export function isAdmin(req: Request, token: string): boolean {
  const auth = req.headers.get("authorization");
  const given = auth?.startsWith("Bearer ") ? auth.slice(7).trim() : req.headers.get("x-admin-token") ?? "";
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
