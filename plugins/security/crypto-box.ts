/**
 * Encryption at rest: AES-256-GCM under a key-encryption key (KEK) from SECRETS_KEK (base64, 32 bytes)
 * or a 0600 key file created on first start. Also the HMAC the audit log records instead of values.
 * Sealed format: "v1." + base64(iv[12] | tag[16] | ciphertext); the AAD binds a blob to its purpose/path.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

export interface SealBox {
  seal(plain: Uint8Array | string, aad: string): string;
  open(sealed: string, aad: string): Buffer;
  /** HMAC-SHA256 (hex) under a key derived from the KEK: lets the audit log prove "same value" without holding it. */
  fingerprint(value: string): string;
  readonly source: "env" | "file" | "created";
}

export function loadKek(configured: string, file: string): { key: Buffer; source: SealBox["source"] } {
  if (configured) {
    const key = Buffer.from(configured, "base64");
    if (key.length !== 32) throw new Error("SECRETS_KEK must be base64 of exactly 32 bytes");
    return { key, source: "env" };
  }
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, "utf8").trim(), "base64");
    if (key.length !== 32) throw new Error(`${file} does not hold base64 of 32 bytes`);
    return { key, source: "file" };
  }
  const key = randomBytes(32);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, key.toString("base64") + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return { key, source: "created" };
}

/** The audit head seal's MAC key, derived from the KEK (so the verifier needs only SECRETS_KEK or secrets.kek). */
export function auditSealKey(kek: Buffer): Buffer {
  return createHmac("sha256", kek).update("tradpal-audit-head-seal").digest();
}

export function createSealBox(kek: Buffer, source: SealBox["source"]): SealBox {
  const hmacKey = createHmac("sha256", kek).update("tradpal-audit-fingerprint").digest();
  return {
    source,
    seal(plain, aad) {
      const iv = randomBytes(12);
      const c = createCipheriv("aes-256-gcm", kek, iv);
      c.setAAD(Buffer.from(aad));
      const body = Buffer.concat([c.update(typeof plain === "string" ? Buffer.from(plain) : plain), c.final()]);
      return "v1." + Buffer.concat([iv, c.getAuthTag(), body]).toString("base64");
    },
    open(sealed, aad) {
      if (!sealed.startsWith("v1.")) throw new Error("unknown sealed format");
      const raw = Buffer.from(sealed.slice(3), "base64");
      const d = createDecipheriv("aes-256-gcm", kek, raw.subarray(0, 12));
      d.setAAD(Buffer.from(aad));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]);
    },
    fingerprint(value) {
      return createHmac("sha256", hmacKey).update(value).digest("hex");
    },
  };
}

/** Open, or explain what is most likely wrong (a different KEK than the one that sealed it). */
export function openOrExplain(box: SealBox, sealed: string, aad: string, what: string): Buffer {
  try {
    return box.open(sealed, aad);
  } catch {
    throw new Error(`${what} cannot be decrypted: wrong key-encryption key (SECRETS_KEK or secrets.kek differs from the one that sealed it) or a damaged file`);
  }
}

/** Write a file atomically (tmp + rename) with a mode. */
export function writeFileAtomic(path: string, data: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}
