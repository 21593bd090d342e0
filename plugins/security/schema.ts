/** The security plugin's settings (`plugins.security` in config.yaml), with a default for every key. */
import { Type, type StaticDecode } from "@sinclair/typebox";
import { Duration, ByteSize } from "../../src/config/units";

export const SERVICE_NAME_PATTERN = "^[a-z0-9][a-z0-9_.-]{0,62}$";

/** Per-service grants. Optional fields (defaults are not applied inside records): absent = none. */
const ServiceGrant = Type.Object(
  {
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { description: "Scopes a token of this service may carry." })),
    secrets_read: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: "Extra secret path prefixes it may read (its own services/<name>/ is implicit)." })),
    secrets_write: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: "Extra secret path prefixes it may write." })),
    credentials: Type.Optional(Type.Array(Type.String({ pattern: SERVICE_NAME_PATTERN }), { description: "Other services whose certificates (not keys) it may read." })),
    admin: Type.Optional(Type.Boolean({ description: "true: a token of this service acts as the administrator." })),
    read_revocations: Type.Optional(Type.Boolean({ description: "true: a token of this service may read GET /tokens/revoked (a gateway seeding its deny-list)." })),
  },
  { additionalProperties: false },
);

export const SecuritySchema = Type.Object(
  {
    trust_domain: Type.String({ default: "tradpal.local", pattern: "^[a-z0-9.-]{1,253}$", description: "SPIFFE trust domain: spiffe://<trust_domain>/service/<name>." }),
    admin_token: Type.String({ default: "", description: "SECURITY_ADMIN_TOKEN. Empty: one is created on first start in <data_dir>/security/admin-token (0600)." }),
    public_ca_and_jwks: Type.Boolean({ default: true, description: "GET /ca/certificate, /ca/crl and /.well-known/jwks.json without a token (public material)." }),
    strict_services: Type.Boolean({ default: false, description: "true: only services listed under `services` get credentials and tokens." }),
    default_scopes: Type.Array(Type.String(), { default: [], description: "Scopes allowed to services not listed under `services`." }),
    services: Type.Record(Type.String({ pattern: SERVICE_NAME_PATTERN }), ServiceGrant, { default: {}, description: "Per-service grants." }),
    ca: Type.Object(
      {
        algorithm: Type.Union([Type.Literal("ecdsa-p256"), Type.Literal("rsa-2048")], { default: "ecdsa-p256" }),
        mode: Type.Union([Type.Literal("single"), Type.Literal("root-intermediate")], { default: "single", description: "root-intermediate: an offline root (root.key, move it away) signs an online intermediate." }),
        common_name: Type.String({ default: "TradPal Platform CA", minLength: 1 }),
        validity: Duration({ default: "3650d" }),
        cert_file: Type.String({ default: "", description: "Load the issuing CA from this PEM instead of creating one (with key_file)." }),
        key_file: Type.String({ default: "" }),
        root_file: Type.String({ default: "", description: "The trust anchor when cert_file is an intermediate." }),
      },
      { additionalProperties: false, default: {} },
    ),
    credentials: Type.Object(
      {
        ttl: Duration({ default: "24h", description: "Lifetime of an issued service certificate." }),
        renew_check_interval: Duration({ default: "1m", description: "How often certificates past 2/3 of their life are renewed." }),
        alt_names: Type.Array(Type.String({ minLength: 1 }), { default: ["{service}", "localhost", "127.0.0.1"], description: "DNS/IP SANs; {service} is replaced by the name." }),
        crl_validity: Duration({ default: "24h", description: "nextUpdate of the CRL." }),
      },
      { additionalProperties: false, default: {} },
    ),
    tokens: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: "ENABLE_JWT: mint and validate tokens." }),
        issuer: Type.String({ default: "tradpal-security", minLength: 1 }),
        audience: Type.String({ default: "tradpal", minLength: 1 }),
        ttl: Duration({ default: "1h" }),
        max_ttl: Duration({ default: "24h", description: "A caller may ask for a shorter or longer TTL up to this." }),
        clock_skew: Duration({ default: "30s" }),
        rotate_every: Duration({ default: "7d", description: "A new signing key after this long; old keys verify until their last token expires." }),
        cache_size: Type.Integer({ minimum: 0, default: 10_000, description: "Verified tokens remembered until they expire (0: off)." }),
        max_length: Type.Integer({ minimum: 256, default: 8192, description: "Longer tokens are refused unparsed." }),
        revocation_channel: Type.String({ default: "tradpal:tokens:revoked", description: "Redis pub/sub channel revocations are published on when host.redis_url is set (gateways subscribe). Empty: bus only." }),
      },
      { additionalProperties: false, default: {} },
    ),
    secrets: Type.Object(
      {
        kek: Type.String({ default: "", description: "SECRETS_KEK: base64 of 32 bytes. Empty: <data_dir>/security/secrets.kek (0600) is created." }),
        max_path_length: Type.Integer({ minimum: 16, maximum: 1024, default: 256 }),
        max_value_size: ByteSize({ default: "64kb", description: "Largest JSON body of one secret version." }),
        max_versions: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: "Versions kept per path (oldest dropped)." }),
        vault_api: Type.Boolean({ default: true, description: "Serve the Vault KV v2 HTTP shape at /v1/secret/... (X-Vault-Token)." }),
        vault_api_mount: Type.String({ default: "secret", pattern: "^[a-z0-9_-]{1,64}$" }),
        vault: Type.Object(
          {
            enabled: Type.Boolean({ default: false, description: "ENABLE_VAULT: store secrets in HashiCorp Vault KV v2 instead of the embedded store." }),
            addr: Type.String({ default: "http://127.0.0.1:8200", description: "VAULT_ADDR" }),
            token: Type.String({ default: "", description: "VAULT_TOKEN" }),
            mount: Type.String({ default: "secret", pattern: "^[A-Za-z0-9_/-]{1,128}$" }),
            timeout: Duration({ default: "5s" }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        file: Type.String({ default: "", description: "Default <data_dir>/security/audit.log." }),
        token_validations: Type.Union([Type.Literal("all"), Type.Literal("failures"), Type.Literal("none")], { default: "all", description: "Which POST /tokens/validate calls are audited." }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

export type SecurityConfig = StaticDecode<typeof SecuritySchema>;
export type ServiceGrantConfig = SecurityConfig["services"][string];
