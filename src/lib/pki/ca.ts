/**
 * The platform certificate authority, shared by the security plugin and the host's mTLS listeners.
 * Created on first start in `<dir>` (default `${data_dir}/security/`) or loaded from configured files:
 *
 *   ca.pem            trust anchor (the root) — what clients pass as `-CAfile` / `tls.ca`
 *   ca.key            private key of the *issuing* CA (mode 0600; never logged, never served)
 *   intermediate.pem  the issuing CA when mode is "root-intermediate" (then ca.key is its key)
 *   root.key          the root's key, written once (0600) so an operator can move it offline; never read back
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync, statSync } from "node:fs";
import { join } from "node:path";
import { createHash, createPrivateKey, type KeyObject } from "node:crypto";
import { x509 } from "./x509";
import { spkiKeyBits } from "./der";
import { algorithmOf, generateKeyPair, importPrivateKeyPem, privateKeyToPem, randomSerial, signingAlgorithm, type KeyAlgorithm } from "./keys";

export type CaMode = "single" | "root-intermediate";

export interface CaOptions {
  dir: string;
  algorithm?: KeyAlgorithm;
  commonName?: string;
  validityDays?: number;
  mode?: CaMode;
  /** Load an existing issuing CA instead of creating one. */
  certFile?: string;
  keyFile?: string;
  /** The trust anchor when certFile is an intermediate; default: certFile itself. */
  rootFile?: string;
}

export interface CertificateAuthority {
  /** The CA that signs leaves and CRLs. */
  cert: x509.X509Certificate;
  certPem: string;
  key: CryptoKey;
  algorithm: KeyAlgorithm;
  /** Certificates between a leaf and the root, issuing CA first ([] when the root signs directly). */
  intermediates: string[];
  /** The trust anchor (PEM). */
  rootPem: string;
  /** The same key as a node:crypto KeyObject (leaf signing in issue.ts). */
  signer: KeyObject;
  /** DER of the CA's subject Name (a leaf's issuer) and its key identifier (a leaf's AKI). */
  subjectDer: Buffer;
  keyId: Buffer;
  /** Where it came from, for the start-up log (never the key). */
  source: "created" | "loaded" | "configured";
  warnings: string[];
}

const DAY = 86_400_000;

export const CA_FILES = { root: "ca.pem", key: "ca.key", intermediate: "intermediate.pem", rootKey: "root.key" } as const;

/** The node:crypto view of a CA: signing key, issuer name DER, key identifier. */
async function nodeView(cert: x509.X509Certificate, key: CryptoKey): Promise<Pick<CertificateAuthority, "signer" | "subjectDer" | "keyId">> {
  const signer = createPrivateKey({ key: Buffer.from(await crypto.subtle.exportKey("pkcs8", key)), format: "der", type: "pkcs8" });
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski ? Buffer.from(ski.keyId, "hex") : createHash("sha1").update(spkiKeyBits(Buffer.from(cert.publicKey.rawData))).digest();
  return { signer, subjectDer: Buffer.from(cert.subjectName.toArrayBuffer()), keyId };
}

function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function caExtensions(pathLength: number | undefined, publicKey: CryptoKey) {
  return Promise.all([
    Promise.resolve(new x509.BasicConstraintsExtension(true, pathLength, true)),
    Promise.resolve(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true)),
    x509.SubjectKeyIdentifierExtension.create(publicKey),
  ]);
}

async function createRoot(alg: KeyAlgorithm, cn: string, days: number) {
  const keys = await generateKeyPair(alg);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${cn}, O=TradPal`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + days * DAY),
    signingAlgorithm: signingAlgorithm(alg),
    keys,
    extensions: await caExtensions(undefined, keys.publicKey),
  });
  return { cert, keys };
}

async function createIntermediate(root: { cert: x509.X509Certificate; keys: CryptoKeyPair }, alg: KeyAlgorithm, cn: string, days: number) {
  const keys = await generateKeyPair(alg);
  const now = Date.now();
  const extensions = [
    ...(await caExtensions(0, keys.publicKey)),
    await x509.AuthorityKeyIdentifierExtension.create(root.cert, false),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${cn} Intermediate, O=TradPal`,
    issuer: root.cert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + Math.max(1, Math.floor(days / 2)) * DAY),
    signingAlgorithm: signingAlgorithm(alg),
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    extensions,
  });
  return { cert, keys };
}

function keyModeWarning(file: string): string[] {
  try {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) return [`${file} is readable by group/others (mode ${mode.toString(8)}); expected 0600`];
  } catch { /* missing is reported by the caller */ }
  return [];
}

async function load(certPem: string, keyPem: string, rootPem: string, intermediates: string[], source: CertificateAuthority["source"], warnings: string[]): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const algorithm = algorithmOf(cert);
  const key = await importPrivateKeyPem(keyPem, algorithm);
  // The key must belong to the certificate: sign a probe and verify it with the certificate's public key.
  const probe = new TextEncoder().encode("tradpal-ca-probe");
  const sigAlg = algorithm === "rsa-2048" ? { name: "RSASSA-PKCS1-v1_5" } : { name: "ECDSA", hash: "SHA-256" };
  const sig = await crypto.subtle.sign(sigAlg, key, probe);
  const pub = await cert.publicKey.export(algorithm === "rsa-2048" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : { name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
  if (!(await crypto.subtle.verify(sigAlg, pub, sig, probe))) throw new Error("CA private key does not match the CA certificate");
  return { cert, certPem: cert.toString("pem"), key, algorithm, intermediates, rootPem, source, warnings, ...(await nodeView(cert, key)) };
}

/** Load the CA from configured files or from `dir`, creating it there on first start. */
export async function loadOrCreateCa(opts: CaOptions): Promise<CertificateAuthority> {
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile) throw new Error("both ca cert_file and key_file must be set to load a configured CA");
    const certPem = readFileSync(opts.certFile, "utf8");
    const rootPem = opts.rootFile ? readFileSync(opts.rootFile, "utf8") : certPem;
    return load(certPem, readFileSync(opts.keyFile, "utf8"), rootPem, opts.rootFile ? [certPem] : [], "configured", keyModeWarning(opts.keyFile));
  }
  const dir = opts.dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const rootFile = join(dir, CA_FILES.root);
  const keyFile = join(dir, CA_FILES.key);
  const interFile = join(dir, CA_FILES.intermediate);
  if (existsSync(rootFile) && existsSync(keyFile)) {
    const rootPem = readFileSync(rootFile, "utf8");
    const keyPem = readFileSync(keyFile, "utf8");
    if (existsSync(interFile)) {
      const interPem = readFileSync(interFile, "utf8");
      return load(interPem, keyPem, rootPem, [interPem], "loaded", keyModeWarning(keyFile));
    }
    return load(rootPem, keyPem, rootPem, [], "loaded", keyModeWarning(keyFile));
  }
  const alg = opts.algorithm ?? "ecdsa-p256";
  const cn = opts.commonName ?? "TradPal Platform CA";
  const days = opts.validityDays ?? 3650;
  const root = await createRoot(alg, cn, days);
  const rootPem = root.cert.toString("pem");
  let issuing = root;
  let intermediates: string[] = [];
  if (opts.mode === "root-intermediate") {
    issuing = await createIntermediate(root, alg, cn, days);
    intermediates = [issuing.cert.toString("pem")];
    writeAtomic(join(dir, CA_FILES.rootKey), await privateKeyToPem(root.keys.privateKey), 0o600);
    writeAtomic(interFile, intermediates[0], 0o600);
  }
  // Key first, certificate last: a crash in between leaves no ca.pem, so the next start recreates both.
  writeAtomic(keyFile, await privateKeyToPem(issuing.keys.privateKey), 0o600);
  writeAtomic(rootFile, rootPem, 0o600);
  return {
    cert: issuing.cert,
    certPem: issuing.cert.toString("pem"),
    key: issuing.keys.privateKey,
    algorithm: alg,
    intermediates,
    rootPem,
    source: "created",
    warnings: [],
    ...(await nodeView(issuing.cert, issuing.keys.privateKey)),
  };
}
