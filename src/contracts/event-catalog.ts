/**
 * The event catalog: every event type the platform knows, each with a TypeBox schema for its payload.
 * Shared by the events plugin (validation) and the clients in src/clients (static types), so a
 * publisher and a subscriber agree on a payload's shape without importing each other.
 *
 * Payload objects allow extra properties (a newer producer may add fields without breaking older
 * consumers); required fields and their types are enforced. Types outside the catalog are accepted
 * only under the `custom.` prefix, with any object payload.
 */
import { Type, type Static, type TObject } from "@sinclair/typebox";

const open = { additionalProperties: true } as const;
const Symbol_ = Type.String({ minLength: 1, maxLength: 64, description: "Instrument, e.g. BTC/USDT" });
const Side = Type.Union([Type.Literal("BUY"), Type.Literal("SELL")]);
const Price = Type.Number({ minimum: 0 });
const Qty = Type.Number({ exclusiveMinimum: 0 });
const Id = Type.String({ minLength: 1, maxLength: 128 });
const Service = Type.String({ minLength: 1, maxLength: 128 });

/** What the breaker plugin emits on platform.event for a state change (plugins/breaker/notifier.ts). */
const BreakerChange = Type.Object({ breaker: Type.String({ minLength: 1 }), from: Type.Optional(Type.String()), to: Type.Optional(Type.String()), reason: Type.Optional(Type.String()), at: Type.Optional(Type.String()), retryAt: Type.Optional(Type.String()) }, open);

const Order = {
  order_id: Id,
  symbol: Symbol_,
  side: Side,
  quantity: Qty,
};

/** Payload schemas by event type name. Add new types here (and a constant in EventType below). */
export const EventSchemas = {
  "market.data_update": Type.Object({ symbol: Symbol_, price: Price, volume: Type.Optional(Type.Number({ minimum: 0 })), bid: Type.Optional(Price), ask: Type.Optional(Price), exchange: Type.Optional(Type.String()) }, open),
  "market.orderbook_update": Type.Object({ symbol: Symbol_, bids: Type.Array(Type.Tuple([Price, Type.Number({ minimum: 0 })])), asks: Type.Array(Type.Tuple([Price, Type.Number({ minimum: 0 })])) }, open),
  "market.candle_closed": Type.Object({ symbol: Symbol_, interval: Type.String({ minLength: 1 }), open: Price, high: Price, low: Price, close: Price, volume: Type.Number({ minimum: 0 }) }, open),
  "trading.signal": Type.Object({ symbol: Symbol_, action: Type.Union([Type.Literal("BUY"), Type.Literal("SELL"), Type.Literal("HOLD")]), confidence: Type.Number({ minimum: 0, maximum: 1 }), strategy: Type.Optional(Type.String()), price: Type.Optional(Price) }, open),
  "order.placed": Type.Object({ ...Order, order_type: Type.Optional(Type.String()), price: Type.Optional(Price) }, open),
  "order.filled": Type.Object({ ...Order, price: Price, fee: Type.Optional(Type.Number({ minimum: 0 })) }, open),
  "order.partially_filled": Type.Object({ ...Order, filled_quantity: Qty, price: Price }, open),
  "order.cancelled": Type.Object({ order_id: Id, symbol: Symbol_, reason: Type.Optional(Type.String()) }, open),
  "order.rejected": Type.Object({ order_id: Id, symbol: Symbol_, reason: Type.String({ minLength: 1 }) }, open),
  "position.opened": Type.Object({ position_id: Id, symbol: Symbol_, side: Side, quantity: Qty, entry_price: Price }, open),
  "position.updated": Type.Object({ position_id: Id, symbol: Symbol_, quantity: Type.Number({ minimum: 0 }), unrealized_pnl: Type.Number() }, open),
  "position.closed": Type.Object({ position_id: Id, symbol: Symbol_, exit_price: Price, realized_pnl: Type.Number() }, open),
  "risk.limit_breached": Type.Object({ limit: Type.String({ minLength: 1 }), value: Type.Number(), threshold: Type.Number(), symbol: Type.Optional(Symbol_), account: Type.Optional(Id) }, open),
  "risk.exposure_updated": Type.Object({ account: Id, exposure: Type.Number(), currency: Type.String({ minLength: 1 }) }, open),
  "balance.updated": Type.Object({ account: Id, currency: Type.String({ minLength: 1 }), balance: Type.Number(), available: Type.Optional(Type.Number()) }, open),
  "strategy.started": Type.Object({ strategy: Type.String({ minLength: 1 }), params: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }, open),
  "strategy.stopped": Type.Object({ strategy: Type.String({ minLength: 1 }), reason: Type.Optional(Type.String()) }, open),
  "strategy.error": Type.Object({ strategy: Type.String({ minLength: 1 }), error: Type.String() }, open),
  "backtest.started": Type.Object({ backtest_id: Id, strategy: Type.String({ minLength: 1 }), from: Type.String(), to: Type.String() }, open),
  "backtest.completed": Type.Object({ backtest_id: Id, strategy: Type.String({ minLength: 1 }), total_return: Type.Number(), sharpe_ratio: Type.Optional(Type.Number()), max_drawdown: Type.Optional(Type.Number()), trades: Type.Optional(Type.Integer({ minimum: 0 })) }, open),
  "model.updated": Type.Object({ model: Type.String({ minLength: 1 }), version: Type.String({ minLength: 1 }), metrics: Type.Optional(Type.Record(Type.String(), Type.Number())) }, open),
  "service.health": Type.Object({ service: Service, status: Type.Union([Type.Literal("healthy"), Type.Literal("degraded"), Type.Literal("unhealthy")]), details: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }, open),
  "service.started": Type.Object({ service: Service, version: Type.Optional(Type.String()) }, open),
  "service.health_changed": Type.Object({ service: Service, status: Type.Union([Type.Literal("healthy"), Type.Literal("unhealthy")]), instance: Type.Optional(Type.String()), plugin: Type.Optional(Type.String()), reason: Type.Optional(Type.String()) }, open),
  "service.stopped": Type.Object({ service: Service, reason: Type.Optional(Type.String()) }, open),
  "breaker.opened": BreakerChange,
  "breaker.half_opened": BreakerChange,
  "breaker.closed": BreakerChange,
  "breaker.forced_open": BreakerChange,
  "breaker.disabled": BreakerChange,
  "breaker.transition": BreakerChange,
  "breaker.alert": Type.Object({ id: Type.String({ minLength: 1 }), breaker: Type.String({ minLength: 1 }), kind: Type.String(), severity: Type.String(), message: Type.String() }, open),
  "breaker.alert_resolved": Type.Object({ id: Type.String({ minLength: 1 }), breaker: Type.String({ minLength: 1 }) }, open),
  "security.certificate.revoked": Type.Object({ service: Service, serial: Type.String({ minLength: 1 }) }, open),
  "security.alert": Type.Object({ rule: Type.String({ minLength: 1 }), priority: Type.String({ minLength: 1 }), output: Type.Optional(Type.String()), fields: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }, open),
  "security.service_quarantined": Type.Object({ service: Service, mode: Type.Union([Type.Literal("dry_run"), Type.Literal("enforce")]), rule: Type.String({ minLength: 1 }), reason: Type.String() }, open),
  "security.service_quarantine_lifted": Type.Object({ service: Service, by: Type.String({ minLength: 1 }) }, open),
  "security.auth_failed": Type.Object({ principal: Type.Optional(Type.String()), reason: Type.String({ minLength: 1 }), ip: Type.Optional(Type.String()) }, open),
  "system.alert": Type.Object({ severity: Type.Union([Type.Literal("info"), Type.Literal("warning"), Type.Literal("critical")]), message: Type.String({ minLength: 1 }) }, open),
} satisfies Record<string, TObject>;

export type CatalogType = keyof typeof EventSchemas;
/** `custom.<anything>`: accepted with any object payload. */
export type CustomType = `custom.${string}`;
export type EventTypeName = CatalogType | CustomType;

/** Constant names in the seed's style: EventType.MARKET_DATA_UPDATE. */
export const EventType = {
  MARKET_DATA_UPDATE: "market.data_update",
  ORDERBOOK_UPDATE: "market.orderbook_update",
  CANDLE_CLOSED: "market.candle_closed",
  TRADING_SIGNAL: "trading.signal",
  ORDER_PLACED: "order.placed",
  ORDER_FILLED: "order.filled",
  ORDER_PARTIALLY_FILLED: "order.partially_filled",
  ORDER_CANCELLED: "order.cancelled",
  ORDER_REJECTED: "order.rejected",
  POSITION_OPENED: "position.opened",
  POSITION_UPDATED: "position.updated",
  POSITION_CLOSED: "position.closed",
  RISK_LIMIT_BREACHED: "risk.limit_breached",
  RISK_EXPOSURE_UPDATED: "risk.exposure_updated",
  BALANCE_UPDATED: "balance.updated",
  STRATEGY_STARTED: "strategy.started",
  STRATEGY_STOPPED: "strategy.stopped",
  STRATEGY_ERROR: "strategy.error",
  BACKTEST_STARTED: "backtest.started",
  BACKTEST_COMPLETED: "backtest.completed",
  MODEL_UPDATED: "model.updated",
  SERVICE_HEALTH: "service.health",
  SERVICE_STARTED: "service.started",
  SERVICE_HEALTH_CHANGED: "service.health_changed",
  SERVICE_STOPPED: "service.stopped",
  CIRCUIT_BREAKER_OPENED: "breaker.opened",
  CIRCUIT_BREAKER_HALF_OPENED: "breaker.half_opened",
  CIRCUIT_BREAKER_CLOSED: "breaker.closed",
  CIRCUIT_BREAKER_FORCED_OPEN: "breaker.forced_open",
  CIRCUIT_BREAKER_DISABLED: "breaker.disabled",
  CIRCUIT_BREAKER_TRANSITION: "breaker.transition",
  CIRCUIT_BREAKER_ALERT: "breaker.alert",
  CIRCUIT_BREAKER_ALERT_RESOLVED: "breaker.alert_resolved",
  CERTIFICATE_REVOKED: "security.certificate.revoked",
  SECURITY_ALERT: "security.alert",
  SERVICE_QUARANTINED: "security.service_quarantined",
  SERVICE_QUARANTINE_LIFTED: "security.service_quarantine_lifted",
  AUTH_FAILED: "security.auth_failed",
  SYSTEM_ALERT: "system.alert",
} as const satisfies Record<string, CatalogType>;

/** Payload type of an event type (custom types: any object). */
export type EventPayload<T extends EventTypeName> = T extends CatalogType ? Static<(typeof EventSchemas)[T]> : Record<string, unknown>;

export const CUSTOM_PREFIX = "custom.";
export const CURRENT_SCHEMA_VERSION = 1;
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/;

export function isCatalogType(type: string): type is CatalogType {
  return Object.prototype.hasOwnProperty.call(EventSchemas, type);
}

/** What a publisher sends (server fills what is missing). */
export interface EventInput<T extends EventTypeName = EventTypeName> {
  type: T;
  payload: EventPayload<T>;
  /** Event identity; also the dedup key when given (a retried publish with the same id is stored once). */
  id?: string;
  source?: string;
  /** When it happened (ISO 8601); default: when the service received it. */
  time?: string;
  correlationId?: string;
  schemaVersion?: number;
}

/** An event as stored and delivered. */
export interface PlatformEventEnvelope<T extends EventTypeName = EventTypeName> {
  /** Event identity (UUID unless the publisher chose one). */
  id: string;
  /** Position in the stream, "<ms>-<n>" (Redis stream id format in both stores); orders events. */
  streamId: string;
  type: T;
  source: string;
  time: string;
  correlationId: string;
  schemaVersion: number;
  payload: EventPayload<T>;
}
