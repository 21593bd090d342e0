/**
 * Leaf certificates for services and the host: CN + SPIFFE URI SAN + DNS/IP SANs, serverAuth+clientAuth.
 * The TBSCertificate is built with der.ts and signed with node:crypto (the CA's key as a KeyObject);
 * @peculiar/x509 is kept for the CA itself, CRLs and parsing. `openssl verify` and real handshakes test it.
 */
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { isIP } from "node:net";
import type { KeyAlgorithm } from "./keys";
import { randomSerial } from "./keys";
import type { CertificateAuthority } from "./ca";
import { bitString, explicit, ipBytes, NULL, octets, oid, seq, set, spkiKeyBits, time, tlv, TRUE, uintHex, utf8 } from "./der";

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

const SIG_ALG = {
  "ecdsa-p256": seq(oid("1.2.840.10045.4.3.2")),
  "rsa-2048": seq(oid("1.2.840.113549.1.1.11"), NULL),
} as const;

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), TRUE, octets(value)) : seq(oid(id), octets(value));
}

// Fixed extensions: not a CA; digitalSignature (+ keyEncipherment for RSA keys); serverAuth + clientAuth.
const BASIC_CONSTRAINTS = extension("2.5.29.19", true, seq());
const KEY_USAGE = {
  "ecdsa-p256": extension("2.5.29.15", true, bitString(Buffer.from([0x80]), 7)),
  "rsa-2048": extension("2.5.29.15", true, bitString(Buffer.from([0xa0]), 5)),
} as const;
const EXT_KEY_USAGE = extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2")));
const O_TRADPAL = set(seq(oid("2.5.4.10"), utf8("TradPal")));

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export async function issueLeaf(ca: CertificateAuthority, req: LeafRequest): Promise<IssuedLeaf> {
  const alg = req.algorithm ?? ca.algorithm;
  const keys = alg === "rsa-2048" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = keys.publicKey.export({ type: "spki", format: "der" });
  const now = Date.now();
  const notBefore = new Date(Math.floor((now - BACKDATE_MS) / 1000) * 1000);
  const notAfter = new Date(Math.floor(Math.min(now + req.ttlMs, ca.cert.notAfter.getTime()) / 1000) * 1000);
  const serial = randomSerial();

  const names: Buffer[] = [];
  if (req.spiffeId) names.push(tlv(0x86, Buffer.from(req.spiffeId)));
  for (const n of req.altNames ?? []) names.push(isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n)));
  const ski = createHash("sha1").update(spkiKeyBits(spki)).digest();

  const extensions = [
    BASIC_CONSTRAINTS,
    KEY_USAGE[alg],
    EXT_KEY_USAGE,
    ...(names.length ? [extension("2.5.29.17", false, seq(...names))] : []),
    extension("2.5.29.14", false, octets(ski)),
    extension("2.5.29.35", false, seq(tlv(0x80, ca.keyId))),
  ];
  const tbs = seq(
    explicit(0, tlv(0x02, Buffer.from([2]))),
    uintHex(serial),
    SIG_ALG[ca.algorithm],
    ca.subjectDer,
    seq(time(notBefore), time(notAfter)),
    seq(set(seq(oid("2.5.4.3"), utf8(req.commonName))), O_TRADPAL),
    spki,
    explicit(3, seq(...extensions)),
  );
  const signature = sign("sha256", tbs, ca.signer);
  const certPem = toPem(seq(tbs, SIG_ALG[ca.algorithm], bitString(signature)), "CERTIFICATE");
  return {
    serial,
    certPem,
    keyPem: keys.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    chainPem: [certPem, ...ca.intermediates].join("\n"),
    notBefore,
    notAfter,
  };
}
