/** The falco plugin's settings (`plugins.falco` in config.yaml), every key with a default. */
import { Type, type StaticDecode as Static } from "@sinclair/typebox";
import { ByteSize, Duration } from "../../src/config/units";
import { PRIORITIES } from "./priority";

const PriorityName = Type.Union([...PRIORITIES.map((p) => Type.Literal(p)), Type.Literal("info")], { description: "A Falco priority: debug … emergency." });

const ServiceMapping = Type.Object(
  {
    service: Type.String({ pattern: "^[A-Za-z0-9._-]{1,128}$", description: "Platform service name (the gateway's and the security plugin's)." }),
    container_names: Type.Array(Type.String({ minLength: 1 }), { default: [], description: "container.name values; * matches any run of characters." }),
    images: Type.Array(Type.String({ minLength: 1 }), { default: [], description: "container.image.repository values; * allowed." }),
    labels: Type.Record(Type.String({ minLength: 1 }), Type.String(), { default: {}, description: "All must match a container.label.<k> or k8s.pod.label.<k> output field." }),
  },
  { additionalProperties: false },
);

const Output = Type.Object(
  {
    name: Type.String({ pattern: "^[A-Za-z0-9._-]{1,64}$" }),
    type: Type.Union([Type.Literal("webhook"), Type.Literal("slack"), Type.Literal("alertmanager")]),
    url: Type.String({ pattern: "^https?://[^\\s]+$", description: "webhook/slack: the URL posted to; alertmanager: its base URL (…/api/v2/alerts is appended)." }),
    minimum_priority: Type.Optional(PriorityName),
    headers: Type.Record(Type.String(), Type.String(), { default: {} }),
    timeout: Duration({ default: "3s" }),
    max_queue: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000, description: "Notifications waiting for this output; beyond, the oldest is dropped (counted): intake never waits." }),
    batch: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: "Most notifications per request (alertmanager takes an array; others get one each)." }),
    retry_base: Duration({ default: "200ms", description: "First backoff after a failed delivery (full jitter, doubling)." }),
    retry_max: Duration({ default: "10s", description: "Backoff ceiling; a down output is retried at least this often until it answers." }),
    expires_after: Duration({ default: "5m", description: "alertmanager: endsAt = last seen + this (the alert resolves unless repeated)." }),
  },
  { additionalProperties: false },
);

const Policy = Type.Object(
  {
    on: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: "Rule names or tags this policy acts on." }),
    min_priority: PriorityName,
    action: Type.Literal("quarantine"),
    mode: Type.Union([Type.Literal("dry_run"), Type.Literal("enforce")], { default: "dry_run" }),
  },
  { additionalProperties: false },
);

export const FalcoSchema = Type.Object(
  {
    intake: Type.Object(
      {
        max_body_size: ByteSize({ default: "1mb", description: "Larger POST bodies → 413 FALCO_ERR_BODY_TOO_LARGE (at most 16mb, the port's limit)." }),
        max_batch: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000, description: "Most alerts in one POST (array)." }),
        shared_secret: Type.String({ default: "", description: "When set, intake needs X-Falco-Token: <secret> or ?token=<secret> (Falco's http_output cannot add headers)." }),
        max_output_length: Type.Integer({ minimum: 64, maximum: 1_000_000, default: 8192, description: "Longer `output` strings are cut (and marked) before storing." }),
        max_fields: Type.Integer({ minimum: 1, maximum: 10_000, default: 256, description: "Alerts with more output_fields are refused." }),
      },
      { additionalProperties: false, default: {} },
    ),
    dedup: Type.Object(
      {
        window: Duration({ default: "60s", description: "Alerts with the same rule and key fields within this window fold into one, counted." }),
        group_wait: Duration({ default: "500ms", description: "A new group's notification waits this long to collect a burst (0: at once). An escalation never waits." }),
        key_fields: Type.Array(Type.String({ minLength: 1 }), { default: ["container.id", "proc.name", "fd.name", "fd.sip", "fd.sport"], description: "Output fields that tell groups apart; container.id and user.name are always added." }),
        rules: Type.Record(Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 })), { default: {}, description: "Per-rule key fields (rule name → fields), replacing key_fields for that rule." }),
        max_groups: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: "Open groups; beyond, the oldest is closed early (flushed)." }),
      },
      { additionalProperties: false, default: {} },
    ),
    history: Type.Object(
      {
        max_raw: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 10_000, description: "Raw alerts kept for GET /falco/alerts?folded=false (ring)." }),
        max_folded: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 2000, description: "Folded alerts kept (ring)." }),
        max_rule_labels: Type.Integer({ minimum: 1, maximum: 10_000, default: 500, description: "Distinct rule names in metrics labels; further rules count as rule=\"other\"." }),
      },
      { additionalProperties: false, default: {} },
    ),
    trust_domain: Type.String({ default: "tradpal.local", description: "SPIFFE trust domain of the security plugin: spiffe://<trust_domain>/service/<name>." }),
    services: Type.Array(ServiceMapping, { default: [], description: "Container → platform service (first match wins)." }),
    outputs: Type.Array(Output, { default: [] }),
    respond: Type.Object(
      {
        policies: Type.Array(Policy, { default: [] }),
        admin_token: Type.String({ default: "", description: "Bearer token for POST /falco/quarantine/:service/lift; empty: generated into <data_dir>/falco/admin-token." }),
        security_url: Type.String({ default: "", description: "Security plugin base URL for certificate revocation (e.g. http://127.0.0.1:8009); empty: no HTTP call, bus only." }),
        security_token: Type.String({ default: "", description: "Its admin token; empty: read from <data_dir>/security/admin-token." }),
        timeout: Duration({ default: "2s" }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type FalcoConfig = Static<typeof FalcoSchema>;
export type OutputConfig = FalcoConfig["outputs"][number];
export type PolicyConfig = FalcoConfig["respond"]["policies"][number];
export type ServiceMappingConfig = FalcoConfig["services"][number];
