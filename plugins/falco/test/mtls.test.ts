/**
 * Platform mode (host.mtls.enabled): the intake needs a client certificate from the platform CA, as Falco's
 * http_output sends with `mtls: true, client_cert, client_key, ca_cert`. Real TLS handshakes with curl.
 * (TLS ports take the fetch lane: the raw HTTP/1.1 front is plain-HTTP only.)
 */
import { test, expect, beforeAll, afterAll } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { startHost, tempDir, type TestHost } from "../../../test/support/harness";
import { loadOrCreateCa } from "../../../src/lib/pki/ca";
import { issueLeaf } from "../../../src/lib/pki/issue";
import { FALCO_DOCS_JSON_OUTPUT } from "./fixtures/payloads";

let t: TestHost;
let files: Record<"cert" | "key" | "ca" | "otherCert" | "otherKey" | "body", string>;

async function curl(args: string[]) {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", ...args], { stdout: "pipe", stderr: "pipe" });
  const [status, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, status, err };
}

beforeAll(async () => {
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
  mtls:
    enabled: true
    health_port: 0
plugins:
  falco:
    port: 0
`);
  const pki = join(t.dir, "data", "security");
  const ca = await loadOrCreateCa({ dir: pki });
  const leaf = await issueLeaf(ca, { commonName: "falco", spiffeId: "spiffe://tradpal.local/service/falco", altNames: ["localhost", "127.0.0.1"], ttlMs: 3_600_000 });
  const foreign = await loadOrCreateCa({ dir: join(tempDir(), "foreign") });
  const stranger = await issueLeaf(foreign, { commonName: "intruder", altNames: ["127.0.0.1"], ttlMs: 3_600_000 });
  files = { cert: join(t.dir, "falco.pem"), key: join(t.dir, "falco.key"), ca: join(pki, "ca.pem"), otherCert: join(t.dir, "x.pem"), otherKey: join(t.dir, "x.key"), body: join(t.dir, "alert.json") };
  writeFileSync(files.cert, leaf.chainPem);
  writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
  writeFileSync(files.otherCert, stranger.chainPem);
  writeFileSync(files.otherKey, stranger.keyPem, { mode: 0o600 });
  writeFileSync(files.body, FALCO_DOCS_JSON_OUTPUT);
});
afterAll(async () => { await t?.stop(); });

test("with a platform client certificate the alert is accepted; without one, or with a foreign one, the handshake fails", async () => {
  const url = t.url("falco") + "/";
  expect(url.startsWith("https://")).toBe(true);
  const post = ["-X", "POST", "-H", "content-type: application/json", "--data-binary", `@${files.body}`, "--cacert", files.ca, url];
  const ok = await curl(["--cert", files.cert, "--key", files.key, ...post]);
  expect(ok.status).toBe("200");
  const none = await curl(post);
  expect(none.code).not.toBe(0);
  expect(none.status).toBe("000");
  const foreign = await curl(["--cert", files.otherCert, "--key", files.otherKey, ...post]);
  expect(foreign.code).not.toBe(0);
  const raw = await (await fetch(`${url}falco/alerts?folded=false`, { tls: { cert: Bun.file(files.cert), key: Bun.file(files.key), ca: Bun.file(files.ca) } } as RequestInit)).json();
  expect(raw.count).toBe(1);
});
