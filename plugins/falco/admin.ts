/**
 * The operator token for lifting a quarantine: from config, or generated once into
 * <data_dir>/falco/admin-token (0600) and reused across restarts. Constant-time comparison.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { timingSafeEqual } from "node:crypto";

export function resolveAdminToken(configured: string, dataDir: string): { token: string; file?: string } {
  if (configured) return { token: configured };
  const dir = join(dataDir, "falco");
  const file = join(dir, "admin-token");
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (token.length >= 16) return { token, file };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  writeFileSync(file, token + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, file };
}

export function sameSecret(given: string | null | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `Authorization: Bearer <token>` or X-Admin-Token. */
export function bearerOf(req: Request): string | null {
  const auth = req.headers.get("authorization");
  return auth?.startsWith("Bearer ") ? auth.slice(7).trim() : req.headers.get("x-admin-token");
}
