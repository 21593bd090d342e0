/**
 * The gateway's edge policy: JWT / API-key authentication and scopes, /auth/login and /auth/refresh,
 * rate limiting (local or cluster-wide through Redis), and TLS options for mTLS to upstreams.
 * The gateway core spreads `EdgeSettingsSchema.properties` into its schema and calls
 * `createEdgePolicy` at provision time.
 */
export { EdgeSettingsSchema, ServiceTlsSchema, decodeEdgeSettings, decodeServiceTls } from "./schema";
export type { EdgeSettings, ServiceTls } from "./schema";
export { createEdgePolicy } from "./policy";
export { createUpstreamTls } from "./upstream-tls";
export type { UpstreamTlsOptions, UpstreamTlsSource } from "./upstream-tls";
export type { EdgeRoute, EdgePolicy, EdgeDecision, Principal } from "./contract";
