/**
 * A minimal DER encoder (and a TLV reader for SPKI) — just what a leaf certificate needs. Used by
 * issue.ts to build TBSCertificates directly: @peculiar/x509's generator costs ~3 ms per certificate
 * (schema-driven ASN.1 and DI lookups), this ~0.1 ms. Pure.
 */
import { isIPv4 } from "node:net";

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const seq = (...p: Buffer[]) => tlv(0x30, ...p);
export const set = (...p: Buffer[]) => tlv(0x31, ...p);
export const octets = (b: Buffer) => tlv(0x04, b);
export const bitString = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b);
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
export const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);
export const TRUE = Buffer.from([0x01, 0x01, 0xff]);
export const NULL = Buffer.from([0x05, 0x00]);

export function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const stack = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) stack.unshift((v & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A positive INTEGER from hex (a leading 0x00 when the high bit is set). */
export function uintHex(hex: string): Buffer {
  let b = Buffer.from(hex.length % 2 ? "0" + hex : hex, "hex");
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  return tlv(0x02, b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "");
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2) + "Z")) : tlv(0x18, Buffer.from(digits + "Z"));
}

export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || "0", 16), i * 2));
  return out;
}

/** Read one TLV at `offset`: tag, where its content starts, and where it ends. */
export function readTlv(buf: Buffer, offset: number): { tag: number; start: number; end: number } {
  const tag = buf[offset];
  let len = buf[offset + 1];
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    start += n;
  }
  return { tag, start, end: start + len };
}

/** The subjectPublicKey bits of a SubjectPublicKeyInfo (what the key identifier hashes). */
export function spkiKeyBits(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const alg = readTlv(spki, outer.start);
  const bits = readTlv(spki, alg.end);
  return spki.subarray(bits.start + 1, bits.end);
}
