/**
 * The plugin's durable state, built once per data directory and kept in ctx.shared so a config reload
 * never regenerates the CA, the KEK, the signing keys or the admin token.
 */
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import type { PluginContext } from "../../src/core/plugin";
import { loadOrCreateCa, type CertificateAuthority } from "../../src/lib/pki/ca";
import { auditSealKey, createSealBox, loadKek, type SealBox } from "./crypto-box";
import { createCredentialRegistry, type CredentialRegistry } from "./credentials/credential-store";
import { createKeyRing, type KeyRing } from "./tokens/keyring";
import { createAuditLog, type AuditLog } from "../../src/lib/audit/log";
import { loadAdminToken } from "./authz";
import { tightenTree } from "./file-modes";
import { createEmbeddedStore } from "./secrets/embedded";
import type { SecretStore } from "./secrets/store";
import type { SecurityConfig } from "./schema";

export interface SecurityState {
  dir: string;
  ca: CertificateAuthority;
  box: SealBox;
  registry: CredentialRegistry;
  keyring: KeyRing;
  audit: AuditLog;
  adminToken: string;
  adminTokenSource: string;
  embedded(): SecretStore;
  close(): void;
}

export function securityDir(ctx: PluginContext): string {
  return join(ctx.host.data_dir, "security");
}

async function build(cfg: SecurityConfig, ctx: PluginContext, dir: string): Promise<SecurityState> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await loadOrCreateCa({
    dir,
    algorithm: cfg.ca.algorithm,
    mode: cfg.ca.mode,
    commonName: cfg.ca.common_name,
    validityDays: Math.max(1, Math.round(cfg.ca.validity / 86_400_000)),
    certFile: cfg.ca.cert_file || undefined,
    keyFile: cfg.ca.key_file || undefined,
    rootFile: cfg.ca.root_file || undefined,
  });
  for (const w of ca.warnings) ctx.log.warn("CA key file permissions", { warning: w });
  const kek = loadKek(cfg.secrets.kek, join(dir, "secrets.kek"));
  const box = createSealBox(kek.key, kek.source);
  const admin = loadAdminToken(cfg.admin_token, join(dir, "admin-token"));
  const audit = createAuditLog(cfg.audit.file || join(dir, "audit.log"), cfg.audit.enabled, { sealKey: auditSealKey(kek.key) });
  if (audit.integrity) ctx.log.error("audit log does not match its seal (recorded as an audit.seal_broken line; audit:verify reports it)", { file: audit.file, problem: audit.integrity });
  const registry = createCredentialRegistry(ca, dir, box);
  const keyring = createKeyRing(join(dir, "jwt-keys.sealed"), box);
  // After every writer has created its files: anything looser than 0600/0700 (older versions wrote the CA
  // certificate, CRL and deny-lists 0644) is tightened, and said.
  const tightened = tightenTree(dir);
  if (tightened.length) ctx.log.warn("security files were readable by others: tightened to 0600 (directories 0700)", { files: tightened.slice(0, 50), count: tightened.length });
  let embedded: SecretStore | undefined;
  ctx.log.info("security state ready", {
    ca: ca.source, ca_subject: ca.cert.subject, algorithm: ca.algorithm, intermediates: ca.intermediates.length,
    kek: kek.source, admin_token: admin.source === "created" ? `created in ${join(dir, "admin-token")}` : admin.source,
  });
  return {
    dir,
    ca,
    box,
    registry,
    keyring,
    audit,
    adminToken: admin.token,
    adminTokenSource: admin.source,
    embedded() {
      return (embedded ??= createEmbeddedStore({ dir: join(dir, "secrets"), box, maxVersions: cfg.secrets.max_versions }));
    },
    close() { audit.close(); },
  };
}

export function sharedState(cfg: SecurityConfig, ctx: PluginContext): Promise<SecurityState> {
  const dir = securityDir(ctx);
  const p = ctx.shared.getOrCreate(`security:state:${dir}`, () => {
    const promise = build(cfg, ctx, dir);
    // A failed build must not poison the pool: the next provision retries.
    promise.catch(() => void ctx.shared.delete(`security:state:${dir}`));
    return Object.assign(promise, { close: () => promise.then((s) => s.close(), () => undefined) });
  });
  return p;
}
