/** A CRL signed by the issuing CA, listing revoked serials (PEM; `openssl crl -text` reads it). */
import { x509 } from "./x509";
import { signingAlgorithm } from "./keys";
import type { CertificateAuthority } from "./ca";

export interface RevokedEntry {
  serial: string;
  revokedAt: number;
  reason?: number;
}

export async function buildCrl(ca: CertificateAuthority, revoked: readonly RevokedEntry[], nextUpdateMs: number): Promise<string> {
  const now = Date.now();
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subject,
    thisUpdate: new Date(now - 60_000),
    nextUpdate: new Date(now + nextUpdateMs),
    signingAlgorithm: signingAlgorithm(ca.algorithm),
    signingKey: ca.key,
    // Every entry carries an invalidityDate: @peculiar/x509 otherwise writes an empty crlEntryExtensions
    // SEQUENCE, which DER forbids (SIZE 1..MAX) and BoringSSL (Bun's TLS `crl` option) refuses to parse.
    entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revokedAt), invalidity: new Date(r.revokedAt), ...(r.reason ? { reason: r.reason } : {}) })),
  });
  // OpenSSL expects the "X509 CRL" PEM label.
  return x509.PemConverter.encode(crl.rawData, "X509 CRL");
}
