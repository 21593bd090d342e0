/**
 * Typed client of the security plugin (the seed's SecurityClient):
 *
 *   const security = new SecurityClient({ token: adminOrServiceToken });
 *   const creds = await security.issueCredentials("trading_service");
 *   const token = await security.generateToken("trading_service", ["read", "trade"]);
 *   headers = { Authorization: `Bearer ${token}` }
 *
 * With platform mTLS on it presents TRADPAL_TLS_CERT/KEY/CA, or the host's files when ENABLE_MTLS=true
 * (src/clients/env.ts); `tls: { cert, key, ca }` (e.g. a service's own credentials) wins.
 */
import { clientTls, serviceToken, serviceUrl, type ClientTls, type TlsSource } from "./env";
import { wireRequest, WireError, type WireAnswer } from "./wire-client";

export interface ServiceCredentials {
  service: string;
  serial: string;
  spiffe_id: string;
  certificate: string;
  /** Leaf then intermediates. */
  chain: string;
  /** The platform CA (trust anchor). */
  ca: string;
  /** Present on issuance, and on reads by the service itself. */
  private_key?: string;
  not_before: string;
  not_after: string;
  renew_at: string;
  previous?: Omit<ServiceCredentials, "private_key" | "previous">;
}

export interface TokenValidation {
  valid: boolean;
  claims?: { sub: string; scopes?: string[]; exp: number; iat: number; jti: string; iss: string; aud: string | string[]; [k: string]: unknown };
  reason?: string;
  message?: string;
}

export interface SecretVersion { version: number; created_time: string; deletion_time: string; destroyed: boolean }

export interface SecurityClientOptions {
  /** Default: SECURITY_SERVICE_URL, else http://<BIND_ADDRESS or 127.0.0.1>:<SECURITY_SERVICE_PORT or 8009> (src/clients/env.ts). */
  baseUrl?: string;
  /** Bearer token (admin or service). Default: SECURITY_TOKEN, then SECURITY_ADMIN_TOKEN, then <DATA_DIR>/security/admin-token. */
  token?: string;
  /** Client TLS; default from the environment (clientTls in env.ts); false: plain HTTP. */
  tls?: ClientTls | false;
  timeoutMs?: number;
}

export class SecurityClientError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = "SecurityClientError";
  }
}

export class SecurityClient {
  readonly baseUrl: string;
  private readonly token?: string;
  private readonly tls?: TlsSource;
  private readonly timeoutMs: number;

  constructor(opts: SecurityClientOptions = {}) {
    this.tls = clientTls(opts.tls);
    this.baseUrl = opts.baseUrl?.replace(/\/+$/, "") ?? serviceUrl("SECURITY_SERVICE_URL", "SECURITY_SERVICE_PORT", 8009, process.env, this.tls !== undefined);
    this.token = opts.token ?? serviceToken(["SECURITY_TOKEN", "SECURITY_ADMIN_TOKEN"], "security/admin-token");
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** One request on the clients' keep-alive transport (wire-client.ts); no answer at all is status 0 (its code CLIENT_ERR_*). */
  private async call<T>(method: string, path: string, body?: unknown, opts: { allow404?: boolean; text?: boolean; replayable?: boolean } = {}): Promise<T | undefined> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const json = body !== undefined ? JSON.stringify(body) : undefined;
    let res: WireAnswer;
    try {
      res = await wireRequest(this.baseUrl + path, { method, headers, body: json, contentType: json !== undefined ? "application/json" : undefined, timeoutMs: this.timeoutMs, tls: this.tls?.(), replayable: opts.replayable });
    } catch (err) {
      if (err instanceof WireError) throw new SecurityClientError(err.status, err.code, `${this.baseUrl}${path}: ${err.message}`);
      throw err;
    }
    if (res.status === 404 && opts.allow404) return undefined;
    if (res.status < 200 || res.status >= 300) {
      let err: { error?: { code?: string; message?: string } } = {};
      try { err = JSON.parse(res.body); } catch { /* not JSON */ }
      throw new SecurityClientError(res.status, err.error?.code ?? `HTTP_${res.status}`, err.error?.message ?? res.statusText);
    }
    return (opts.text ? res.body : JSON.parse(res.body)) as T;
  }

  /** Issue a new key pair and certificate for a service (returns the private key once). */
  issueCredentials(service: string): Promise<ServiceCredentials> {
    return this.call<ServiceCredentials>("POST", `/credentials/${encodeURIComponent(service)}`) as Promise<ServiceCredentials>;
  }

  /** The service's current certificate (and key, when the caller is that service); undefined when none. */
  getCredentials(service: string): Promise<ServiceCredentials | undefined> {
    return this.call<ServiceCredentials>("GET", `/credentials/${encodeURIComponent(service)}`, undefined, { allow404: true });
  }

  /** Mint a token for a service with scopes (within what config allows it); returns the compact JWT. */
  async generateToken(service: string, scopes?: string[], opts: { ttl?: string | number } = {}): Promise<string> {
    const r = await this.call<{ token: string }>("POST", `/tokens/${encodeURIComponent(service)}`, { ...(scopes ? { scopes } : {}), ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}) });
    return r!.token;
  }

  validateToken(token: string, audience?: string): Promise<TokenValidation> {
    // A read by POST: safe to send again, so pipelined (the security plugin takes validations pipelined).
    return this.call<TokenValidation>("POST", "/tokens/validate", { token, ...(audience ? { audience } : {}) }, { replayable: true }) as Promise<TokenValidation>;
  }

  async putSecret(path: string, data: Record<string, unknown>, opts: { cas?: number } = {}): Promise<SecretVersion> {
    return (await this.call<SecretVersion>("PUT", `/secrets/${encodePath(path)}`, { data, ...(opts.cas !== undefined ? { cas: opts.cas } : {}) }))!;
  }

  /** The secret's data (latest or a given version); undefined when absent. */
  async getSecret(path: string, opts: { version?: number } = {}): Promise<Record<string, unknown> | undefined> {
    const r = await this.call<{ data: Record<string, unknown> }>("GET", `/secrets/${encodePath(path)}${opts.version ? `?version=${opts.version}` : ""}`, undefined, { allow404: true });
    return r?.data;
  }

  /** The platform CA certificate (PEM): what peers pass as `ca` / `--cacert`. */
  async caCertificate(): Promise<string> {
    return (await this.call<string>("GET", "/ca/certificate?format=pem", undefined, { text: true }))!;
  }
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}
