/** The host's own settings (`host:` in config.yaml) and the listener keys it owns in every plugin block. */
import { Type, type Static, type StaticDecode } from "@sinclair/typebox";
import { Duration } from "./units";

export const HostSchema = Type.Object(
  {
    data_dir: Type.String({ default: "./data", minLength: 1, description: "Where embedded stores, CA keys and secrets live." }),
    log_level: Type.Union(
      ["debug", "info", "warn", "warning", "error", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL"].map((l) => Type.Literal(l)),
      { default: "info" },
    ),
    metrics_enabled: Type.Boolean({ default: true, description: "Serve GET /metrics on every plugin." }),
    redis_url: Type.String({ default: "", description: "Empty: embedded stores. Set: Redis for durability and many instances." }),
    workers: Type.Union([Type.Integer({ minimum: 1, maximum: 64 }), Type.Literal("auto")], { default: 1, description: "Processes serving the same ports (SO_REUSEPORT) under one supervisor; auto: one per core. Needs fixed ports." }),
    worker_plugins: Type.Array(Type.String({ minLength: 1 }), { default: ["gateway"], description: "Plugins run in every worker; the others run once, in worker 0 (their state lives in one process)." }),
    bus: Type.Object(
      {
        bridge: Type.Boolean({ default: true, description: "With redis_url: the plugins' bus crosses processes over Redis (a split platform cooperates as one process)." }),
        platform: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$", description: "Processes with the same name on one Redis are one platform (Redis keys tradpal:<platform>:bus:*). Default: $TRADPAL_PLATFORM, else \"main\"." })),
      },
      { default: {}, additionalProperties: false },
    ),
    tracing: Type.Object(
      {
        endpoint: Type.String({ default: "", description: "OTLP/HTTP collector base URL (http://127.0.0.1:4318): spans are POSTed to <endpoint>/v1/traces as OTLP JSON. Empty: tracing off, at no cost." }),
        sample_ratio: Type.Number({ minimum: 0, maximum: 1, default: 1, description: "Share of new traces recorded; a caller's traceparent sampled flag is followed." }),
        flush_interval: Duration({ default: "1s", description: "Queued spans are sent this often." }),
        max_queue: Type.Integer({ minimum: 1, default: 8192, description: "Spans waiting for export beyond this are dropped (a slow collector never holds requests up)." }),
        headers: Type.Record(Type.String(), Type.String(), { default: {}, description: "Extra HTTP headers on export requests (a collector's API key)." }),
      },
      { default: {}, additionalProperties: false },
    ),
    bind: Type.String({ default: "0.0.0.0", description: "Default listen address of every plugin." }),
    health_interval: Duration({ default: "30s", description: "How often the host asks each plugin for its health (tradpal_host_plugin_healthy, service.health_changed events on a change); 0 turns it off." }),
    shutdown_grace: Duration({ default: "10s", description: "How long SIGTERM waits for in-flight requests." }),
    reload_debounce: Duration({ default: "150ms", description: "Quiet time after a config.yaml change before it is applied." }),
    drain_timeout: Duration({ default: "30s", description: "How long a replaced instance may finish in-flight requests after a reload." }),
    port_linger: Duration({ default: "1s", description: "After a port change, the old port keeps accepting (served by the new instance) this long, so clients can move." }),
    upgrade_grace: Duration({ default: "30s", description: "After a port change or a plugin's removal, upgraded connections (WebSockets) on the old listener keep running this long, then get a Close frame (1012 service restart) both ways; on shutdown they get 1001 going away once in-flight requests are done." }),
    mtls: Type.Object(
      {
        enabled: Type.Boolean({ default: false, description: "ENABLE_MTLS: every listener requires a client certificate from the platform CA." }),
        open_paths: Type.Array(Type.String(), { default: ["/health"], description: "Paths reachable without a client certificate when mTLS is on." }),
        dir: Type.Optional(Type.String({ minLength: 1, description: "Where the platform CA and the host's certificate live; default ${data_dir}/security." })),
        ca_file: Type.Optional(Type.String({ minLength: 1, description: "Trust anchor (PEM) clients are checked against; default <dir>/ca.pem (created on first start)." })),
        cert_file: Type.Optional(Type.String({ minLength: 1, description: "The host's certificate chain (PEM); default <dir>/host.pem, issued by the platform CA." })),
        key_file: Type.Optional(Type.String({ minLength: 1, description: "The host's private key (PEM); default <dir>/host.key (0600)." })),
        alt_names: Type.Array(Type.String({ minLength: 1, pattern: "^[A-Za-z0-9.:*_-]+$" }), { default: [], description: "Extra DNS names or IPs for the host certificate (it always has loopback, the OS hostname, host.bind and every declared plugin's id)." }),
        health_port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: "A plain-HTTP listener serving only GET /health[/<plugin>] while mTLS is on (TLS cannot exempt paths). Unset: none." })),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false, default: {} },
);

/** Decoded: durations are milliseconds. */
export type HostSettings = StaticDecode<typeof HostSchema>;

/** Keys in `plugins.<id>` that belong to the host, not the plugin. */
export const ListenerSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: "0 picks a free port (tests)." }),
    hostname: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const LISTENER_KEYS = ["enabled", "port", "hostname"] as const;
export type Listener = Static<typeof ListenerSchema>;
