/** Key algorithms of the platform PKI (ECDSA P-256 by default, RSA-2048 optional) and PEM conversions. */
import { x509 } from "./x509";

export type KeyAlgorithm = "ecdsa-p256" | "rsa-2048";

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ["ecdsa-p256", "rsa-2048"];

const EC_GEN: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const EC_SIGN: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const RSA_GEN: RsaHashedKeyGenParams = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
const RSA_SIGN: Algorithm = { name: "RSASSA-PKCS1-v1_5" };

export function generationParams(alg: KeyAlgorithm): EcKeyGenParams | RsaHashedKeyGenParams {
  return alg === "rsa-2048" ? RSA_GEN : EC_GEN;
}

export function signingAlgorithm(alg: KeyAlgorithm): Algorithm | EcdsaParams {
  return alg === "rsa-2048" ? RSA_SIGN : EC_SIGN;
}

export function generateKeyPair(alg: KeyAlgorithm): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(generationParams(alg), true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** Import a PKCS#8 PEM private key; the algorithm is read from the certificate it belongs to. */
export function importPrivateKeyPem(pem: string, alg: KeyAlgorithm): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error("no PEM block in private key file");
  const params = alg === "rsa-2048" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : EC_GEN;
  return crypto.subtle.importKey("pkcs8", der, params, true, ["sign"]);
}

/** Which of our algorithms a certificate's public key uses. */
export function algorithmOf(cert: InstanceType<typeof x509.X509Certificate>): KeyAlgorithm {
  const name = (cert.publicKey.algorithm as Algorithm).name;
  return name === "ECDSA" ? "ecdsa-p256" : "rsa-2048";
}

/** A random positive serial number, 16 bytes of hex (RFC 5280: ≤ 20 octets, positive). */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return Buffer.from(bytes).toString("hex");
}
