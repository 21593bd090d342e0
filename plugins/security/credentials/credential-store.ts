/**
 * Service credentials: issue, read, renew at 2/3 of the lifetime (the previous certificate stays valid
 * until it expires), revoke, and the CRL. Each service's record — including its private key — is sealed
 * (AES-256-GCM) and appended to <dir>/credentials.journal (one line per change, last one wins; compacted
 * at start). An append costs far less than a tmp-file + rename per issuance. Revoked serials go to
 * <dir>/revoked.json (serials only, no secrets).
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CertificateAuthority } from "../../../src/lib/pki/ca";
import { issueLeaf } from "../../../src/lib/pki/issue";
import { buildCrl, type RevokedEntry } from "../../../src/lib/pki/crl";
import { openOrExplain, writeFileAtomic, type SealBox } from "../crypto-box";

export interface IssuedCredential {
  service: string;
  serial: string;
  spiffe_id: string;
  certificate: string;
  chain: string;
  private_key: string;
  not_before: string;
  not_after: string;
  renew_at: string;
}

interface ServiceRecord { current?: IssuedCredential; previous?: IssuedCredential }

export interface CredentialSettings {
  trustDomain: string;
  ttlMs: number;
  altNames: readonly string[];
  crlValidityMs: number;
}

export interface CredentialRegistry {
  issue(service: string, s: CredentialSettings): Promise<IssuedCredential>;
  current(service: string): IssuedCredential | undefined;
  previous(service: string): IssuedCredential | undefined;
  /** Revoke the service's current certificate (or the given serial of that service). */
  revoke(service: string, serial?: string): { serial: string } | undefined;
  isRevoked(serial: string): boolean;
  /** Renew every certificate past 2/3 of its lifetime; returns the services renewed. */
  renewDue(s: CredentialSettings): Promise<string[]>;
  crlPem(s: CredentialSettings): Promise<string>;
  /** Write the current CRL to <dir>/crl.pem, where the host's mTLS listeners load it (at start). */
  publishCrl(): Promise<void>;
  revokedSerials(): string[];
}

/** 2/3 of the lifetime asked for, counted from issuance (notBefore is backdated a minute for clock skew). */
const renewAt = (issuedAt: number, na: Date) => new Date(issuedAt + ((na.getTime() - issuedAt) * 2) / 3);

export function createCredentialRegistry(ca: CertificateAuthority, dir: string, box: SealBox): CredentialRegistry {
  const journal = join(dir, "credentials.journal");
  const revokedFile = join(dir, "revoked.json");
  const records = new Map<string, ServiceRecord>();
  let lines = 0;
  let skipped = 0;
  if (existsSync(journal)) {
    const all = readFileSync(journal, "utf8").split("\n");
    const complete = all.pop() === ""; // a journal ends with "\n" unless a crash tore its last line
    for (const line of all) {
      lines++;
      const sp = line.indexOf(" ");
      const service = line.slice(0, sp);
      records.set(service, JSON.parse(openOrExplain(box, line.slice(sp + 1), `cred:${service}`, `credentials journal ${journal} line ${lines}`).toString("utf8")));
    }
    if (!complete) skipped++; // the torn line's change is lost; the earlier record stands
  }
  const sealedLine = (service: string, rec: ServiceRecord) => `${service} ${box.seal(JSON.stringify(rec), `cred:${service}`)}\n`;
  if (lines > records.size * 2 + 16 || skipped > 0) {
    writeFileAtomic(journal, [...records].map(([svc, rec]) => sealedLine(svc, rec)).join(""));
  }
  const revoked = new Map<string, RevokedEntry & { service: string; not_after: string }>(
    existsSync(revokedFile) ? (JSON.parse(readFileSync(revokedFile, "utf8")) as (RevokedEntry & { service: string; not_after: string })[]).map((r) => [r.serial, r]) : [],
  );
  let crl: { pem: string; builtAt: number } | undefined;

  const persist = (service: string, rec: ServiceRecord) => appendFileSync(journal, sealedLine(service, rec), { mode: 0o600 });
  const live = (c?: IssuedCredential) => (c && !revoked.has(c.serial) && Date.parse(c.not_after) > Date.now() ? c : undefined);

  async function issue(service: string, s: CredentialSettings): Promise<IssuedCredential> {
    const spiffe = `spiffe://${s.trustDomain}/service/${service}`;
    const issuedAt = Date.now();
    const leaf = await issueLeaf(ca, { commonName: service, spiffeId: spiffe, altNames: s.altNames.map((n) => n.replaceAll("{service}", service)), ttlMs: s.ttlMs });
    const cred: IssuedCredential = {
      service,
      serial: leaf.serial,
      spiffe_id: spiffe,
      certificate: leaf.certPem,
      chain: leaf.chainPem,
      private_key: leaf.keyPem,
      not_before: leaf.notBefore.toISOString(),
      not_after: leaf.notAfter.toISOString(),
      renew_at: renewAt(issuedAt, leaf.notAfter).toISOString(),
    };
    const old = records.get(service);
    const rec: ServiceRecord = { current: cred, previous: live(old?.current) };
    persist(service, rec);
    records.set(service, rec);
    return cred;
  }

  return {
    issue,
    current(service) { return live(records.get(service)?.current); },
    previous(service) { return live(records.get(service)?.previous); },
    revoke(service, serial) {
      const rec = records.get(service);
      const target = serial ? [rec?.current, rec?.previous].find((c) => c?.serial === serial.toLowerCase()) : rec?.current;
      if (!target || revoked.has(target.serial)) return undefined;
      revoked.set(target.serial, { serial: target.serial, revokedAt: Date.now(), service, not_after: target.not_after });
      writeFileAtomic(revokedFile, JSON.stringify([...revoked.values()], null, 1));
      crl = undefined;
      return { serial: target.serial };
    },
    isRevoked(serial) { return revoked.has(serial.toLowerCase()); },
    async renewDue(s) {
      const now = Date.now();
      const due = [...records].filter(([, r]) => live(r.current) && Date.parse(r.current!.renew_at) <= now).map(([svc]) => svc);
      for (const svc of due) await issue(svc, s);
      return due;
    },
    async crlPem(s) {
      // Rebuild after a revocation or when half the CRL's validity has passed.
      if (!crl || Date.now() - crl.builtAt > s.crlValidityMs / 2) crl = { pem: await buildCrl(ca, [...revoked.values()], s.crlValidityMs), builtAt: Date.now() };
      return crl.pem;
    },
    async publishCrl() {
      // The host loads this file once, at start, and cannot refresh a listener's CRL: a CRL past its
      // nextUpdate would fail every handshake, so this copy is valid as long as the CA is.
      const validity = Math.max(60_000, ca.cert.notAfter.getTime() - Date.now());
      writeFileAtomic(join(dir, "crl.pem"), await buildCrl(ca, [...revoked.values()], validity));
    },
    revokedSerials() { return [...revoked.keys()]; },
  };
}
