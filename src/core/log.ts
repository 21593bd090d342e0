/**
 * Structured JSON logger: one line per event, LOG_LEVEL filtered, child loggers carry fields. A line
 * written while a request is handled carries its request_id, trace_id and span_id (request-context.ts).
 */
import { currentRequest } from "./request-context";

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Accepts the seed's spellings too (DEBUG, INFO, WARNING, ERROR). */
export function parseLogLevel(value: string | undefined, fallback: LogLevel = "info"): LogLevel {
  if (!value) return fallback;
  const v = value.trim().toLowerCase();
  if (v === "warning") return "warn";
  if (v === "critical" || v === "fatal") return "error";
  return v in LEVEL_RANK ? (v as LogLevel) : fallback;
}

export type LogSink = (line: string) => void;
const stdoutSink: LogSink = (line) => process.stdout.write(line + "\n");

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  isEnabled(level: LogLevel): boolean;
  child(fields: Record<string, unknown>): Logger;
}

interface LoggerState {
  rank: number;
  sink: LogSink;
}

function errorToJson(err: unknown): unknown {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(("code" in err) ? { code: (err as any).code } : {}) };
  return err;
}

class JsonLogger implements Logger {
  constructor(private readonly state: LoggerState, private readonly base: Record<string, unknown>) {}

  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>) {
    if (LEVEL_RANK[level] < this.state.rank) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, ...this.base, msg };
    // The request this line is written for (request-context.ts): its ids unless the line names its own.
    const req = currentRequest();
    if (req !== undefined) {
      record.request_id = req.id();
      const trace = req.trace();
      if (trace !== undefined) { record.trace_id = trace; if (req.spanId !== undefined) record.span_id = req.spanId; }
    }
    if (fields) for (const k in fields) {
      const v = fields[k];
      if (v !== undefined) record[k] = k === "err" || k === "error" ? errorToJson(v) : v; // an undefined field leaves the context's
    }
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ time: record.time, level, ...this.base, msg, note: "fields not serialisable" });
    }
    this.state.sink(line);
  }
  debug(msg: string, fields?: Record<string, unknown>) { this.write("debug", msg, fields); }
  info(msg: string, fields?: Record<string, unknown>) { this.write("info", msg, fields); }
  warn(msg: string, fields?: Record<string, unknown>) { this.write("warn", msg, fields); }
  error(msg: string, fields?: Record<string, unknown>) { this.write("error", msg, fields); }
  isEnabled(level: LogLevel) { return LEVEL_RANK[level] >= this.state.rank; }
  child(fields: Record<string, unknown>): Logger { return new JsonLogger(this.state, { ...this.base, ...fields }); }
}

export interface RootLogger extends Logger {
  setLevel(level: LogLevel): void;
}

export function createLogger(opts: { level?: LogLevel; sink?: LogSink; fields?: Record<string, unknown> } = {}): RootLogger {
  const state: LoggerState = { rank: LEVEL_RANK[opts.level ?? "info"], sink: opts.sink ?? stdoutSink };
  const logger = new JsonLogger(state, opts.fields ?? {}) as unknown as RootLogger;
  logger.setLevel = (level: LogLevel) => { state.rank = LEVEL_RANK[level]; };
  return logger;
}
