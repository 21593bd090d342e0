/**
 * Upstream TLS: options for the gateway's calls to a service's https instances. `tls: { mode: mutual }`
 * presents the gateway's client certificate and verifies the upstream against the platform CA;
 * `mode: tls` only verifies.
 * Files are re-read when their mtime changes (checked at most every `reload_check`), so a rotated
 * certificate is used without a restart. The returned object is stable between rotations, so the
 * caller can pass it to every fetch without allocation.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { HostSettings } from "../../../src/config/host-schema";
import type { PlatformTlsClient, PluginContext } from "../../../src/core/plugin";
import { assertKeyPair, platformFilesIn, watchedFiles } from "../../../src/lib/pki/platform-files";
import type { ServiceTls, UpstreamTlsFiles } from "../schema";

export interface UpstreamTlsOptions {
  key?: string;
  cert?: string;
  ca?: string;
  rejectUnauthorized: true;
  serverName?: string;
}

export interface UpstreamTlsSource {
  /** Current options (re-read after a rotation). Cheap: one clock read on most calls. */
  get(): UpstreamTlsOptions;
  /** How many times the files were (re)loaded. */
  readonly loads: number;
}

interface FileSet { cert: string; key: string; ca: string }

function resolveFiles(service: ServiceTls, defaults: UpstreamTlsFiles): FileSet {
  return {
    cert: service.cert_file || defaults.cert_file,
    key: service.key_file || defaults.key_file,
    ca: service.ca_file || defaults.ca_file,
  };
}

/**
 * Empty file settings fall back to the platform's own material: the host's certificate (serverAuth +
 * clientAuth, issued from the platform CA that the security plugin manages) and that CA, where
 * src/host/tls.ts keeps them (host.mtls.* or <host.mtls.dir | data_dir/security>/{host.pem,host.key,ca.pem}).
 */
export function withPlatformDefaults(files: UpstreamTlsFiles, host: HostSettings, platform?: PlatformTlsClient): UpstreamTlsFiles {
  // With platform mTLS on, the host says which files it uses; otherwise the same rule computed here.
  const p = platform?.files ?? platformFilesIn(host.mtls.dir ?? join(host.data_dir, "security"));
  return {
    ...files,
    cert_file: files.cert_file || host.mtls.cert_file || p.cert,
    key_file: files.key_file || host.mtls.key_file || p.key,
    ca_file: files.ca_file || host.mtls.ca_file || p.ca,
  };
}

/**
 * Build the TLS source of one service, or undefined for `mode: none`. Throws (a config error, at
 * provision time) when a required file is missing or unreadable.
 */
export function createUpstreamTls(service: ServiceTls, defaults: UpstreamTlsFiles, opts: { checkEveryMs?: number; log?: { warn(msg: string, f?: Record<string, unknown>): void } } = {}): UpstreamTlsSource | undefined {
  if (service.mode === "none") return undefined;
  const files = resolveFiles(service, defaults);
  if (!files.ca) throw new Error(`upstream tls mode "${service.mode}" needs a CA file (tls.ca_file or upstream_tls.ca_file)`);
  if (service.mode === "mutual" && (!files.cert || !files.key)) {
    throw new Error('upstream tls mode "mutual" needs a client certificate and key (tls.cert_file/key_file or upstream_tls.cert_file/key_file)');
  }
  const checkEvery = opts.checkEveryMs ?? defaults.reload_check ?? 1000;
  const paths = service.mode === "mutual" ? [files.cert, files.key, files.ca] : [files.ca];
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`upstream tls: ${p} does not exist (set tls.*_file or upstream_tls.*_file, or enable host.mtls so the platform certificate is issued)`);
  }
  let loads = 0;
  const load = (): UpstreamTlsOptions => {
    const o: UpstreamTlsOptions = { ca: readFileSync(files.ca, "utf8"), rejectUnauthorized: true };
    if (service.mode === "mutual") {
      o.cert = readFileSync(files.cert, "utf8");
      o.key = readFileSync(files.key, "utf8");
      assertKeyPair(o.cert, o.key, "client certificate and key");
    }
    if (service.server_name) o.serverName = service.server_name;
    loads++;
    return o;
  };
  const source = watchedFiles(paths, load, checkEvery, (err) => opts.log?.warn("upstream TLS files unreadable; keeping the previous ones", { err, files: paths }));
  return {
    get: source.get,
    get loads() { return loads; },
  };
}

/**
 * The TLS source of one configured service: its `tls` block over the gateway's `upstream_tls` files
 * (the platform's own when empty). Undefined for `mode: none`. Independent of the edge policy: a
 * service's upstream mTLS holds whatever auth is configured.
 */
export function serviceTlsSource(service: ServiceTls, files: UpstreamTlsFiles, ctx: Pick<PluginContext, "host" | "tls" | "log">): UpstreamTlsSource | undefined {
  if (service.mode === "none") return undefined;
  return createUpstreamTls(service, withPlatformDefaults(files, ctx.host, ctx.tls), { log: ctx.log });
}
