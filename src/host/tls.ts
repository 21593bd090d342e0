/**
 * Platform mTLS for the host's listeners (host.mtls.enabled / ENABLE_MTLS).
 *
 * Before the first port is bound, the host makes sure the platform CA exists (the same files the security
 * plugin uses, through src/lib/pki — the host never imports a plugin) and that it holds a certificate of
 * its own (`host.pem` / `host.key`, serverAuth + clientAuth). Every listener then requires a client
 * certificate chaining to the platform CA, and is served by the host's front (Bun.listen), which checks
 * each client certificate against the live CRL at the handshake and passes its SPIFFE ID on
 * (tls-peers.ts). TLS cannot exempt paths, so `open_paths` is honoured through an optional plain-HTTP
 * health listener (`host.mtls.health_port`) that serves GET /health and GET /health/<plugin> only.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hostname as osHostname } from "node:os";
import type { Server } from "bun";
import type { HostSettings } from "../config/host-schema";
import type { Logger } from "../core/log";
import { CA_FILES } from "../lib/pki/ca";
import { x509 } from "../lib/pki/x509";
import { HostErrors } from "../core/errors";
import type { PlatformTlsClient } from "../core/plugin";
import { PLATFORM_FILES, fileBackedTls, type TlsFiles } from "../lib/pki/platform-files";
import { LivePeers } from "./tls-peers";
import { HostCertRenewal, ensureHostCert, hostAltNames } from "./tls-host-cert";

export const HOST_CERT_FILE = PLATFORM_FILES.cert;
export const HOST_KEY_FILE = PLATFORM_FILES.key;

export interface PlatformTls {
  /** For Bun.serve: the host's chain and key, the CA, client certificates required. */
  server: Bun.TLSOptions;
  /** For fetch()/clients of the host: present the host's certificate, trust the platform CA (as read at start). */
  client: { cert: string; key: string; ca: string };
  /** The same files, re-read when they change (what plugins' outgoing calls use, through ctx.tls). */
  source: ReturnType<typeof fileBackedTls>;
  /** The live verdict on client certificates (CRL re-read on change, SPIFFE ID); the host starts it. */
  peers: LivePeers;
  /** Renewal of the host certificate while running (not for host.mtls.cert_file/key_file); the host starts it. */
  renewal?: HostCertRenewal;
}

/** After a renewal: the new server and client options, in place (what later binds use too). */
export function applyRenewed(tls: PlatformTls, pem: { cert: string; key: string }): Bun.TLSOptions {
  tls.server = { ...tls.server, cert: pem.cert, key: pem.key };
  tls.client = { ...tls.client, cert: pem.cert, key: pem.key };
  return tls.server;
}

export function pkiDir(host: HostSettings): string {
  return host.mtls.dir ?? join(host.data_dir, "security");
}

/**
 * The TLS material of the platform, or undefined when mTLS is off. Creates the CA and host cert on first use,
 * and issues a new host cert when the one on file lacks a name it must answer to (`declared`: the config's
 * plugin ids, a plugin added to the file or a new alt_names entry).
 */
export async function platformTls(host: HostSettings, log: Logger, declared: readonly string[] = []): Promise<PlatformTls | undefined> {
  if (!host.mtls.enabled) return undefined;
  const dir = pkiDir(host);
  const caFile = host.mtls.ca_file ?? join(dir, CA_FILES.root);
  let certFile = host.mtls.cert_file;
  let renewal: HostCertRenewal | undefined; // only for the certificate the host manages itself
  let keyFile = host.mtls.key_file;
  if (!certFile || !keyFile) {
    certFile = join(dir, HOST_CERT_FILE);
    keyFile = join(dir, HOST_KEY_FILE);
    const names = hostAltNames([...declared, ...host.mtls.alt_names, host.bind]);
    await ensureHostCert(dir, { cert: certFile, key: keyFile }, log, names);
    renewal = new HostCertRenewal(dir, { cert: certFile, key: keyFile }, log, names);
  }
  const source = fileBackedTls({ cert: certFile, key: keyFile, ca: caFile } satisfies TlsFiles);
  const { ca, cert, key } = source.get();
  // Revoked serials are not given to the TLS context (read once, and fatal to every handshake once past its
  // nextUpdate): every listener is served by the host's front, which asks `peers` per handshake (tls-peers.ts).
  const peers = new LivePeers(join(dir, PLATFORM_FILES.crl), log);
  return {
    server: { cert, key, ca, requestCert: true, rejectUnauthorized: true },
    client: { cert, key, ca },
    source,
    peers,
    renewal,
  };
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"]);

/**
 * ctx.tls for the plugins of one config: which URLs are the platform's own listeners, and the material
 * to call them with. `ports` maps every plugin the file declares (hosted here or, with --only, in another
 * process) to its port. A URL is a platform URL when its port is one of them and its host is loopback,
 * this machine (host.bind, the OS hostname) or a declared plugin's id (its DNS name in deploy/).
 * Such a URL written with http:// can only fail against a listener that requires TLS, so it is upgraded.
 */
export function platformClient(tls: PlatformTls, ports: Readonly<Record<string, number>>, bind: string): PlatformTlsClient {
  const portSet = new Set(Object.values(ports).filter((p) => p > 0));
  const hosts = new Set([...LOOPBACK, bind, osHostname(), ...Object.keys(ports)]);
  const isPlatform = (url: string): boolean => {
    let u: URL;
    try { u = new URL(url); } catch { return false; }
    if (u.protocol !== "http:" && u.protocol !== "https:") return false;
    const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
    return portSet.has(port) && (hosts.has(u.hostname) || u.hostname.startsWith("127."));
  };
  return {
    material: () => tls.source.get(),
    files: tls.source.files,
    isPlatform,
    upgrade: (url) => (url.startsWith("http://") && isPlatform(url) ? `https://${url.slice(7)}` : url),
    fetchTls: (url) => (isPlatform(url) ? tls.source.get() : undefined),
  };
}

/**
 * Plain-HTTP listener for what `host.mtls.open_paths` leaves open while mTLS is on: "/health" → GET /health
 * (every plugin) and GET /health/<plugin>; "/metrics" → GET /metrics/<plugin>. Nothing else.
 */
export function bindHealthListener(
  hostname: string,
  port: number,
  slots: () => ReadonlyMap<string, { health(): Promise<Response>; metrics(): Promise<Response> }>,
  openPaths: readonly string[] = ["/health"],
): Server<unknown> {
  const health = openPaths.includes("/health");
  const metrics = openPaths.includes("/metrics");
  return Bun.serve({
    hostname,
    port,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method === "GET" && health && path === "/health") {
        const all = [...slots()];
        const results = await Promise.all(all.map(async ([id, s]) => [id, (await s.health()).status] as const));
        const ok = results.every(([, status]) => status === 200);
        return Response.json({ status: ok ? "ok" : "unavailable", plugins: Object.fromEntries(results.map(([id, st]) => [id, st === 200 ? "ok" : "unavailable"])) }, { status: ok ? 200 : 503 });
      }
      if (req.method === "GET" && health && path.startsWith("/health/")) {
        const slot = slots().get(decodeURIComponent(path.slice(8)));
        if (slot) return slot.health();
      }
      if (req.method === "GET" && metrics && path.startsWith("/metrics/")) {
        const slot = slots().get(decodeURIComponent(path.slice(9)));
        if (slot) return slot.metrics();
      }
      return HostErrors.HOST_ERR_NOT_FOUND(`this listener serves only host.mtls.open_paths (${openPaths.join(", ")}) as GET <path> or GET <path>/<plugin>`).toResponse();
    },
  });
}

/**
 * The TLS state every plugin's /health reports with platform mTLS on: the host certificate's expiry
 * and SPIFFE ID, the CA, and the live CRL (tls-peers.ts). Parsed once per material (re-read on renewal).
 */
const described = new WeakMap<object, Record<string, unknown>>();
export function tlsHealth(tls: PlatformTls): Record<string, unknown> {
  const m = tls.source.get();
  let d = described.get(m);
  if (!d) {
    const cert = new x509.X509Certificate(m.cert);
    const ca = new x509.X509Certificate(m.ca);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.find((n) => n.type === "url")?.value;
    d = { certificate: { spiffe_id: san ?? null, serial: cert.serialNumber, not_after: cert.notAfter.toISOString() }, ca: { subject: ca.subject, not_after: ca.notAfter.toISOString() } };
    described.set(m, d);
  }
  return { ...d, revocation: tls.peers.health() };
}
