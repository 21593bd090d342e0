/**
 * The host's own mTLS certificate (`host.pem` / `host.key` in the platform's PKI directory): issued from
 * the platform CA on first start, and renewed at 2/3 of its life — at start, and while running, so a
 * process that runs longer than a certificate lives never presents an expired one.
 *
 * A renewal writes the files (key first; readers pair key and certificate before using them: platform-
 * files.ts) and hands the new server options to the host, which gives them to every listener (the front
 * opens a second listener on the port for new connections; accepted connections carry on), while the
 * plugins' outgoing calls pick the files up on their next mtime check. Nothing is refused in between:
 * the previous certificate stays valid until its own notAfter.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withFileLock } from "../lib/file-lock";
import { hostname as osHostname } from "node:os";
import type { Logger } from "../core/log";
import { loadOrCreateCa } from "../lib/pki/ca";
import { issueLeaf } from "../lib/pki/issue";
import { x509 } from "../lib/pki/x509";

const HOST_CERT_TTL_MS = 30 * 86_400_000;
/** setTimeout's ceiling (~24.8 days): a later renewal is re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

export function writeSecretFile(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** When the certificate at `file` is due for renewal (2/3 of its lifetime); 0 when missing or unreadable. */
export function renewAt(file: string): number {
  if (!existsSync(file)) return 0;
  try {
    const cert = new x509.X509Certificate(readFileSync(file, "utf8"));
    const nb = cert.notBefore.getTime();
    return nb + ((cert.notAfter.getTime() - nb) * 2) / 3;
  } catch {
    return 0;
  }
}

/**
 * The names the host certificate answers to: loopback, this machine, and `extra` — the declared plugins'
 * ids (their DNS names in deploy/, where an upgraded http://events:8011 must pass the hostname check) and
 * host.mtls.alt_names.
 */
export function hostAltNames(extra: readonly string[] = []): string[] {
  return [...new Set(["localhost", "127.0.0.1", "::1", osHostname(), ...extra].filter((n) => n && n !== "0.0.0.0" && n !== "::"))];
}

/** The DNS names and IPs in the certificate at `file` ([] when missing or unreadable). */
export function certAltNames(file: string): string[] {
  try {
    const cert = new x509.X509Certificate(readFileSync(file, "utf8"));
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    return (san?.names.items ?? []).filter((n) => n.type === "dns" || n.type === "ip").map((n) => n.value);
  } catch {
    return [];
  }
}

/** Issue the host certificate into `files` (0600) for `altNames` (hostAltNames()). Returns the new PEMs. */
export async function issueHostCert(dir: string, files: { cert: string; key: string }, log: Logger, why: string, altNames: readonly string[] = hostAltNames()): Promise<{ cert: string; key: string }> {
  const ca = await loadOrCreateCa({ dir });
  for (const w of ca.warnings) log.warn("platform CA", { warning: w });
  const leaf = await issueLeaf(ca, {
    commonName: "tradpal-host",
    spiffeId: "spiffe://tradpal.local/host",
    altNames,
    ttlMs: HOST_CERT_TTL_MS,
  });
  writeSecretFile(files.key, leaf.keyPem);
  writeSecretFile(files.cert, leaf.chainPem); // 0600 like every file of the security dir (its rule; it would tighten and warn)
  log.info(`${why} the host's mTLS certificate`, { serial: leaf.serial, not_after: leaf.notAfter.toISOString(), cert: files.cert, alt_names: altNames, source: ca.source });
  return { cert: leaf.chainPem, key: leaf.keyPem };
}

/**
 * Issue the host certificate unless the one on file is current and has every name in `names` — under a lock,
 * as the host's workers share the directory and a key from one with a certificate from another would pair
 * into nothing. Returns the PEMs on file afterwards (whoever wrote them).
 */
export async function ensureHostCert(dir: string, files: { cert: string; key: string }, log: Logger, names: readonly string[], renewing = false): Promise<{ cert: string; key: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return withFileLock(join(dir, "host.lock"), async () => {
    const have = certAltNames(files.cert);
    const missing = names.filter((n) => !have.some((h) => h.toLowerCase() === n.toLowerCase()));
    const due = Date.now() >= renewAt(files.cert) || !existsSync(files.key);
    if (due || missing.length > 0) {
      // Names are only ever added: processes sharing the directory with different names must not take turns.
      const why = renewing ? "renewed" : !existsSync(files.cert) ? "issued" : missing.length > 0 ? `re-issued (new names: ${missing.join(", ")})` : "renewed";
      return issueHostCert(dir, files, log, why, [...new Set([...have, ...names])]);
    }
    return { cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8") };
  });
}

/** Renews the host certificate at 2/3 of its life while the host runs; `onRenewed` gets the new PEMs. */
export class HostCertRenewal {
  private timer?: ReturnType<typeof setTimeout>;
  private stopped = false;

  constructor(private readonly dir: string, private readonly files: { cert: string; key: string }, private readonly log: Logger, private readonly altNames: readonly string[] = hostAltNames()) {}

  start(onRenewed: (pem: { cert: string; key: string }) => void): void {
    // The listeners' swap closes a SO_REUSEPORT socket: without this sysctl, connections queued on it at
    // that instant are reset instead of handed to the new listener.
    try {
      if (readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim() === "0") {
        this.log.info("net.ipv4.tcp_migrate_req is 0: a connection queued at the instant a renewed certificate is swapped in may be reset; set it to 1 for none");
      }
    } catch { /* not Linux, or no such sysctl (kernel < 5.14) */ }
    const arm = () => {
      if (this.stopped) return;
      const wait = Math.max(0, renewAt(this.files.cert) - Date.now());
      this.timer = setTimeout(() => void run(wait > MAX_TIMER_MS), Math.min(wait, MAX_TIMER_MS));
      (this.timer as { unref?: () => void }).unref?.();
    };
    const run = async (rearmOnly: boolean) => {
      if (!rearmOnly && !this.stopped) {
        try {
          onRenewed(await ensureHostCert(this.dir, this.files, this.log, this.altNames, true));
        } catch (err) {
          this.log.error("renewing the host's mTLS certificate failed; retrying in a minute", { err });
          this.timer = setTimeout(() => void run(false), 60_000);
          return;
        }
      }
      arm();
    };
    arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
