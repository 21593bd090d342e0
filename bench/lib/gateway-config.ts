/**
 * The gateway config the proxy benchmarks share: one `bench` service on /api in front of one upstream,
 * health-checked, access log on, edge rate limiting off (each bench adds what it measures through the
 * extras). One definition, so the gateway rows of different benches measure the same thing.
 */
export interface BenchGatewayOptions {
  dataDir: string;
  port: number;
  upstream: string;
  client?: "pooled" | "fetch";
  logLevel?: string;
  /** Extra `host:` lines (indented two spaces), e.g. workers or tracing. */
  hostExtra?: string;
  /** Extra gateway lines (indented four spaces), e.g. the edge's keys. */
  gatewayExtra?: string;
  /** Extra lines of the service (indented eight spaces), e.g. transforms or upstream TLS. */
  serviceExtra?: string;
}

export function benchGatewayConfig(o: BenchGatewayOptions): string {
  return `host:
  data_dir: ${o.dataDir}
  log_level: ${o.logLevel ?? "info"}
  metrics_enabled: true
  redis_url: ""
${o.hostExtra ?? ""}plugins:
  gateway:
    port: ${o.port}
    hostname: 127.0.0.1
    upstream_client: ${o.client ?? "pooled"}
${o.gatewayExtra ?? "    rate_limiting: { enabled: false }\n"}    access_log: { enabled: true, sample_rate: 1, max_per_second: 50 }
    services:
      - name: bench
        path_prefix: /api
        load_balancing: round_robin
        instances: [{ url: "${o.upstream}" }]
        health_check: { path: /api/health, interval: 5s }
${o.serviceExtra ?? ""}`;
}
