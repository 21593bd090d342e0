/** The hand-built leaf certificates, checked by openssl (an independent parser and verifier). */
import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateCa } from "./ca";
import { issueLeaf } from "./issue";
import { ipBytes, uintHex, oid, time } from "./der";

async function openssl(args: string[]) {
  const p = Bun.spawn(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

test("DER primitives", () => {
  expect(oid("1.2.840.10045.4.3.2").toString("hex")).toBe("06082a8648ce3d040302");
  expect(uintHex("80").toString("hex")).toBe("02020080");
  expect(uintHex("0001").toString("hex")).toBe("020101");
  expect(time(new Date("2030-01-02T03:04:05Z")).toString()).toContain("300102030405Z");
  expect(time(new Date("2051-01-02T03:04:05Z"))[0]).toBe(0x18);
  expect(ipBytes("::1").toString("hex")).toBe("00000000000000000000000000000001");
  expect(ipBytes("fe80::1:2").toString("hex")).toBe("fe800000000000000000000000010002");
  expect(ipBytes("10.0.0.1").toString("hex")).toBe("0a000001");
});

test("a leaf with IPv4/IPv6/DNS/URI SANs parses and verifies with openssl (ECDSA and from a loaded CA)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pki-"));
  await loadOrCreateCa({ dir });
  const ca = await loadOrCreateCa({ dir }); // loaded from files this time
  expect(ca.source).toBe("loaded");
  const leaf = await issueLeaf(ca, { commonName: "svc-a", spiffeId: "spiffe://td/service/svc-a", altNames: ["svc-a", "127.0.0.1", "::1", "fe80::1:2"], ttlMs: 3_600_000 });
  writeFileSync(join(dir, "leaf.pem"), leaf.certPem);
  expect((await openssl(["verify", "-CAfile", join(dir, "ca.pem"), join(dir, "leaf.pem")])).out).toContain("OK");
  const text = (await openssl(["x509", "-in", join(dir, "leaf.pem"), "-noout", "-text"])).out;
  expect(text).toContain("URI:spiffe://td/service/svc-a, DNS:svc-a, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FE80:0:0:0:0:0:1:2");
  expect(text).toContain("CA:FALSE");
  expect(text).toContain("Digital Signature");
  expect(text.toLowerCase()).toContain(leaf.serial.replace(/(..)(?!$)/g, "$1:"));
  expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBeGreaterThan(3_600_000);
});
