/**
 * Where the platform's mTLS material lives and how a client reads it. One definition for the host
 * (src/host/tls.ts), the plugins' outgoing calls (ctx.tls) and the typed clients (src/clients/env.ts).
 *
 * Dependency-free on purpose (node:fs only): the typed clients import it, and they must not pull the
 * CA code (@peculiar/x509) into a service that only wants to call the platform.
 */
import { readFileSync, statSync } from "node:fs";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { join } from "node:path";

/** File names in the platform's PKI directory (<host.mtls.dir | data_dir/security>). */
export const PLATFORM_FILES = { cert: "host.pem", key: "host.key", ca: "ca.pem", crl: "crl.pem" } as const;

export interface TlsFiles { cert: string; key: string; ca: string }
/** What Bun's fetch()/Bun.connect take as `tls` to present a certificate and trust the platform CA. */
export interface ClientTlsMaterial { cert: string; key: string; ca: string }

export function platformFilesIn(dir: string): TlsFiles {
  return { cert: join(dir, PLATFORM_FILES.cert), key: join(dir, PLATFORM_FILES.key), ca: join(dir, PLATFORM_FILES.ca) };
}

/**
 * A value read from files, re-read when one of their mtimes changes, checked at most every `checkMs`.
 * The returned value stays the same object between rotations, so callers may key connection pools by
 * identity. A re-read that throws (a rotation caught half-written) keeps the previous value and is
 * reported to `onError`. The first read throws to the caller.
 */
export function watchedFiles<T>(paths: readonly string[], read: () => T, checkMs: number, onError?: (err: unknown) => void): { get(): T } {
  const stamp = () => paths.map((f) => statSync(f).mtimeMs).join(":");
  let seen = stamp();
  let current = read();
  let next = Date.now() + checkMs;
  return {
    get() {
      const now = Date.now();
      if (now < next) return current;
      next = now + checkMs;
      try {
        const s = stamp();
        if (s !== seen) { current = read(); seen = s; }
      } catch (err) { onError?.(err); }
      return current;
    },
  };
}

/** Throws unless the certificate (PEM) is the key's: a rotation must never pair a new key with the old certificate. */
export function assertKeyPair(cert: string, key: string, what: string): void {
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) throw new Error(`${what} do not match`);
}

/**
 * The platform files' contents, re-read when an mtime changes (the host renews its certificate at 2/3
 * of its life; the security plugin's clients renew theirs), checked at most every `checkMs`.
 */
export function fileBackedTls(files: TlsFiles, checkMs = 1000): { get(): ClientTlsMaterial; readonly files: TlsFiles } {
  const source = watchedFiles([files.cert, files.key, files.ca], (): ClientTlsMaterial => {
    const m = { cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8"), ca: readFileSync(files.ca, "utf8") };
    assertKeyPair(m.cert, m.key, `${files.cert} and ${files.key}`);
    return m;
  }, checkMs);
  return { files, get: source.get };
}
