/**
 * The host certificate's names and its issuance under concurrency, checked with the real openssl:
 * the declared plugins' ids are names it answers to (deploy/: https://events:8011), a new name re-issues
 * it at start, and processes starting together (host.workers) end with a key and certificate that pair.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../core/log";
import { ensureHostCert, hostAltNames } from "./tls-host-cert";

const log = createLogger({ level: "error" });
const root = mkdtempSync(join(tmpdir(), "host-cert-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const filesIn = (dir: string) => ({ cert: join(dir, "host.pem"), key: join(dir, "host.key") });

function openssl(args: string[], stdin?: string): string {
  const r = Bun.spawnSync(["openssl", ...args], { stdin: stdin ? new TextEncoder().encode(stdin) : undefined, stdout: "pipe", stderr: "pipe" });
  return r.stdout.toString() + r.stderr.toString();
}
const serial = (pem: string) => openssl(["x509", "-noout", "-serial"], pem).trim();
const checkHost = (pem: string, name: string) => openssl(["x509", "-noout", "-checkhost", name], pem);

test("the certificate answers to loopback and every declared plugin id; names it was not given fail openssl's check", async () => {
  const dir = join(root, "a");
  const pem = await ensureHostCert(dir, filesIn(dir), log, hostAltNames(["gateway", "events", "security"]));
  for (const n of ["localhost", "events", "gateway", "security"]) expect(checkHost(pem.cert, n)).toContain("does match");
  expect(checkHost(pem.cert, "falco")).toContain("does NOT match");
  expect(checkHost(pem.cert, "evil.example")).toContain("does NOT match");
});

test("the same names keep the certificate on file; a new name re-issues it with the old names kept", async () => {
  const dir = join(root, "b");
  const first = await ensureHostCert(dir, filesIn(dir), log, hostAltNames(["gateway"]));
  const again = await ensureHostCert(dir, filesIn(dir), log, hostAltNames(["gateway"]));
  expect(serial(again.cert)).toBe(serial(first.cert));
  const more = await ensureHostCert(dir, filesIn(dir), log, hostAltNames(["gateway", "falco", "falco.tradpal.svc"]));
  expect(serial(more.cert)).not.toBe(serial(first.cert));
  for (const n of ["gateway", "falco", "falco.tradpal.svc"]) expect(checkHost(more.cert, n)).toContain("does match");
  expect(readFileSync(filesIn(dir).cert, "utf8")).toBe(more.cert);
});

test("six processes starting together on one directory, each adding a name: a key and certificate that pair, every name kept", async () => {
  const dir = join(root, "c");
  const script = join(root, "issue.ts");
  writeFileSync(script, `
    import { createLogger } from ${JSON.stringify(join(import.meta.dir, "../core/log"))};
    import { ensureHostCert, hostAltNames } from ${JSON.stringify(join(import.meta.dir, "tls-host-cert"))};
    const dir = process.argv[2];
    await ensureHostCert(dir, { cert: dir + "/host.pem", key: dir + "/host.key" }, createLogger({ level: "error" }), hostAltNames(["gateway", "n" + process.argv[3]]));
  `);
  const procs = Array.from({ length: 6 }, (_, i) => Bun.spawn(["bun", script, dir, String(i)], { stdout: "pipe", stderr: "pipe" }));
  const codes = await Promise.all(procs.map((p) => p.exited));
  expect(codes).toEqual([0, 0, 0, 0, 0, 0]);
  const { cert, key } = filesIn(dir);
  const fromCert = openssl(["x509", "-noout", "-pubkey", "-in", cert]);
  const fromKey = openssl(["pkey", "-pubout", "-in", key]);
  expect(fromCert).toContain("BEGIN PUBLIC KEY");
  expect(fromKey).toBe(fromCert);
  const pem = readFileSync(cert, "utf8");
  for (let i = 0; i < 6; i++) expect(checkHost(pem, `n${i}`)).toContain("does match");
});
