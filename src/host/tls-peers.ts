/**
 * Who may finish a handshake with a platform listener, decided per connection and live: the certificate
 * chained to the platform CA (BoringSSL checked that), and its serial is not in the platform CRL as it
 * is *now*. The security plugin rewrites `crl.pem` on every revocation; this re-reads it when its mtime
 * changes (polled every 500 ms, plus at once on the bus's `security.certificate.revoked` event), so a
 * revoked certificate is refused by every listener within a second, without a restart.
 *
 * Why here and not in Bun.serve's `tls.crl`: Bun.serve reads its TLS context once (server.reload keeps
 * the old one) and shows no peer certificate to a handler. The host's front (Bun.listen, src/host/wire/
 * front.ts) does: its `handshake` callback gets `socket.getPeerCertificate()`, which gives the serial to
 * check here and the SPIFFE ID (URI SAN) handed on to the plugin (src/core/peer-identity.ts). A CRL
 * loaded into the TLS context would also fail every handshake once past its nextUpdate; read here, an
 * out-of-date CRL still revokes what it lists.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import type { PeerCertificate } from "node:tls";
import { x509 } from "../lib/pki/x509";
import type { Bus } from "../core/bus";
import type { Logger } from "../core/log";

/** Serials compare as uppercase hex without leading zeros (openssl, node:tls and @peculiar/x509 differ). */
export function normalSerial(hex: string): string {
  return hex.replace(/[^0-9a-f]/gi, "").toUpperCase().replace(/^0+(?=.)/, "");
}

/** The SPIFFE ID in a certificate's subjectaltname ("URI:spiffe://…, DNS:…"), or undefined. */
export function spiffeIdOf(cert: Pick<PeerCertificate, "subjectaltname"> | undefined): string | undefined {
  const m = /(?:^|,\s*)URI:(spiffe:\/\/[^,\s]+)/.exec(cert?.subjectaltname ?? "");
  return m?.[1];
}

export interface PeerVerdict {
  /** false: close the connection (revoked); else the peer's SPIFFE ID ("" when the certificate has none). */
  admit(cert: PeerCertificate | undefined): string | false;
  /** Revoked since the handshake? (asked per request on a kept-alive connection: one Set lookup) */
  revokedNow(serial: string): boolean;
}

export class LivePeers implements PeerVerdict {
  private revoked = new Set<string>();
  private stamp = "";
  private updatedAt?: Date;
  private lastError?: string;
  private timer?: ReturnType<typeof setInterval>;
  private offBus?: () => void;
  refused = 0;

  constructor(private readonly crlFile: string, private readonly log: Logger, private readonly pollMs = 500) {}

  start(bus?: Bus): void {
    this.refresh();
    this.timer = setInterval(() => this.refresh(), this.pollMs);
    (this.timer as { unref?: () => void }).unref?.();
    // Same process as the security plugin: do not wait for the next poll.
    this.offBus = bus?.on("platform.event", (e) => { if (e.type === "security.certificate.revoked") this.refresh(); });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.offBus?.();
  }

  /** Re-read the CRL when the file changed; a broken file keeps the set we have (and says so once). */
  refresh(): void {
    try {
      if (!existsSync(this.crlFile)) return;
      const st = statSync(this.crlFile);
      const stamp = `${st.mtimeMs}:${st.size}`;
      if (stamp === this.stamp) return;
      const crl = new x509.X509Crl(readFileSync(this.crlFile, "utf8"));
      this.revoked = new Set((crl.entries ?? []).map((e) => normalSerial(e.serialNumber)));
      this.stamp = stamp;
      this.updatedAt = new Date();
      this.lastError = undefined;
      this.log.info("platform CRL loaded: listeners refuse its certificates from the next handshake", { file: this.crlFile, revoked: this.revoked.size });
      const next = crl.nextUpdate;
      if (next && next.getTime() < Date.now()) this.log.warn("platform CRL is past its nextUpdate: its revocations still hold (the security plugin re-signs it on the next revocation)", { file: this.crlFile, next_update: next.toISOString() });
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) this.log.warn("platform CRL unreadable; keeping the revoked set we have", { file: this.crlFile, err: msg });
      this.lastError = msg;
    }
  }

  admit(cert: PeerCertificate | undefined): string | false {
    if (!cert?.serialNumber) return false; // requestCert + rejectUnauthorized: never without one
    if (this.revoked.has(normalSerial(cert.serialNumber))) { this.refused++; return false; }
    return spiffeIdOf(cert) ?? "";
  }

  revokedNow(serial: string): boolean {
    if (this.revoked.size === 0 || !this.revoked.has(normalSerial(serial))) return false;
    this.refused++;
    return true;
  }

  health(): Record<string, unknown> {
    return { crl: this.crlFile, revoked: this.revoked.size, updated_at: this.updatedAt?.toISOString() ?? null, refused: this.refused, ...(this.lastError ? { error: this.lastError } : {}) };
  }
}
