/** Leaf certificates for services and the host: CN + SPIFFE URI SAN + DNS/IP SANs, serverAuth+clientAuth. */
import { isIP } from "node:net";
import { x509 } from "./x509";
import { generateKeyPair, privateKeyToPem, randomSerial, signingAlgorithm, type KeyAlgorithm } from "./keys";
import type { CertificateAuthority } from "./ca";

export interface LeafRequest {
  commonName: string;
  /** e.g. spiffe://tradpal.local/service/orders */
  spiffeId?: string;
  /** DNS names and IP addresses (told apart automatically). */
  altNames?: readonly string[];
  ttlMs: number;
  algorithm?: KeyAlgorithm;
}

export interface IssuedLeaf {
  serial: string;
  certPem: string;
  keyPem: string;
  /** Leaf first, then intermediates (what a TLS peer presents). Root not included. */
  chainPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** Backdate a little so a peer whose clock is slightly behind still accepts a fresh certificate. */
const BACKDATE_MS = 60_000;

export async function issueLeaf(ca: CertificateAuthority, req: LeafRequest): Promise<IssuedLeaf> {
  const keys = await generateKeyPair(req.algorithm ?? ca.algorithm);
  const names: x509.JsonGeneralName[] = [];
  if (req.spiffeId) names.push({ type: "url", value: req.spiffeId });
  for (const n of req.altNames ?? []) names.push(isIP(n) ? { type: "ip", value: n } : { type: "dns", value: n });
  const now = Date.now();
  const notBefore = new Date(now - BACKDATE_MS);
  const notAfter = new Date(Math.min(now + req.ttlMs, ca.cert.notAfter.getTime()));
  const serial = randomSerial();
  const [ski, aki] = await Promise.all([
    x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
  ]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ CN: [req.commonName] }, { O: ["TradPal"] }],
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: signingAlgorithm(ca.algorithm),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      ski,
      aki,
    ],
  });
  const certPem = cert.toString("pem");
  return {
    serial,
    certPem,
    keyPem: await privateKeyToPem(keys.privateKey),
    chainPem: [certPem, ...ca.intermediates].join("\n"),
    notBefore,
    notAfter,
  };
}
