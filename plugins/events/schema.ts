/** Settings of `plugins.events` (the host owns enabled/port/hostname). Durations and rates in human units. */
import { Type, type StaticDecode } from "@sinclair/typebox";
import { ByteSize, Duration, RateLimit } from "../../src/config/units";

export const EventsSchema = Type.Object(
  {
    stream: Type.String({ default: "tradpal_events", pattern: "^[A-Za-z0-9_.\\-]{1,100}$", description: "EVENT_STREAM_NAME: the Redis stream key (and embedded stream name)." }),
    max_batch: Type.Integer({ default: 1000, minimum: 1, maximum: 10_000, description: "Most events in one POST /events batch (stored atomically)." }),
    max_event_size: ByteSize({ default: "1mb", description: "Largest event (its JSON as sent; in a batch, its compact JSON): 413 EV_ERR_EVENT_TOO_LARGE above. At most 16mb." }),
    max_batch_bytes: ByteSize({ default: "8mb", description: "Largest POST /events body (a batch): 413 EV_ERR_BODY_TOO_LARGE above, refused from Content-Length or while reading. At most 16mb." }),
    max_depth: Type.Integer({ default: 32, minimum: 2, maximum: 1000, description: "Deepest JSON nesting of one event (the event object is level 1, its payload 2): 400 EV_ERR_TOO_DEEP above." }),
    max_len: Type.Integer({ default: 1_000_000, minimum: 0, description: "Keep about this many events (approximate MAXLEN trimming; 0 = unbounded)." }),
    max_age: Duration({ default: "0s", description: "Drop events older than this (MINID trimming; 0 = keep forever)." }),
    trim_interval: Duration({ default: "1s", description: "How often the embedded store trims (Redis trims on every XADD)." }),
    dedup_window: Duration({ default: "10m", description: "Retention of Idempotency-Key records and event-id dedup: a repeat within it answers the first ids (another body under the key: 409)." }),
    visibility_timeout: Duration({ default: "30s", description: "An unacknowledged delivery is redelivered to another consumer after this long." }),
    max_deliveries: Type.Integer({ default: 5, minimum: 1, maximum: 1000, description: "After this many deliveries without ack an event goes to the dead-letter stream." }),
    sync: Type.Union([Type.Literal("normal"), Type.Literal("full")], { default: "normal", description: "Embedded store: synchronous=NORMAL survives a process crash; FULL also survives power loss (slower)." }),
    redis_cluster: Type.Boolean({ default: false, description: "host.redis_url names one node of a Redis Cluster (slots are discovered from it)." }),
    redis_command_timeout: Duration({ default: "2s", description: "A Redis command slower than this fails the request with 503." }),
    default_source: Type.String({ default: "api", minLength: 1, description: "source of an event published without one." }),
    page_limit: Type.Integer({ default: 1000, minimum: 1, maximum: 10_000, description: "Largest `limit` of GET /events." }),
    subscribe: Type.Object(
      {
        batch: Type.Integer({ default: 100, minimum: 1, maximum: 1000, description: "Events read per XREADGROUP." }),
        heartbeat: Duration({ default: "15s", description: "SSE comment line sent when idle, so proxies keep the stream open." }),
        max_subscribers: Type.Integer({ default: 1000, minimum: 1, description: "Concurrent SSE subscriptions." }),
      },
      { default: {}, additionalProperties: false },
    ),
    replay: Type.Object(
      {
        default_rate: RateLimit({ default: "1000/s", description: "Replay pace when the request names none." }),
        max_rate: RateLimit({ default: "20000/s", description: "Fastest pace a replay request may ask for." }),
        max_events: Type.Integer({ default: 1_000_000, minimum: 1, description: "Most events one replay delivers." }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false, default: {} },
);

export type EventsConfig = StaticDecode<typeof EventsSchema>;
