/**
 * The coalesced publish call through Bun's native Redis client (single node only). Measured: one
 * EVALSHA with an event's 20 arguments costs ~15 µs of CPU through Bun.RedisClient against ~21–36 µs
 * through ioredis (JS RESP encoding + node-stream socket writes); that was a third of the server's CPU on
 * POST /events. Same guarantees as the ioredis path: no offline queue (a Redis that is down rejects at
 * once), a command timeout, no resend; connection failures and timeouts → StoreUnavailableError. The
 * timeout is one sweep timer over the commands in flight, not a timer and a wrapping promise per command.
 * While the native client is not connected the caller uses ioredis (isReady() false) and this kicks a
 * reconnect at most once a second, so a long outage never leaves publishing on the slow path.
 */
import { RedisClient } from "bun";
import { StoreUnavailableError } from "./types";

/** Where a command's answer goes: exactly one is called, neither may throw. */
export interface Answer<T> {
  stored(reply: T): void;
  failed(err: Error): void;
}

/** How often in-flight commands are checked against their time (one fails between its time and this much after). */
export const SWEEP_MS = 100;

export class NativePublisher {
  private readonly client: RedisClient;
  /** sha1 of each script run through this client (EVALSHA names a script by it). */
  private readonly shas = new Map<string, string>();
  /** Commands sent and not answered yet: the sweep fails those past their time. */
  private readonly inFlight = new Set<Command>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private lastKick = 0;
  private closed = false;

  constructor(url: string, private readonly script: string, private readonly timeoutMs: number) {
    this.client = new RedisClient(url, { enableOfflineQueue: false, autoReconnect: true, maxRetries: 1_000_000, connectionTimeout: Math.max(1000, timeoutMs) });
    this.kick();
  }

  /** Connected now; otherwise (re)connect in the background, at most once a second. */
  isReady(): boolean {
    if (this.client.connected) return true;
    this.kick();
    return false;
  }

  private kick() {
    const now = Date.now();
    if (this.closed || now - this.lastKick < 1000) return;
    this.lastKick = now;
    this.client.connect().catch(() => { /* retried on a later kick; ioredis serves meanwhile */ });
  }

  /**
   * EVALSHA of `script` with `args` = ["", numkeys, ...keys, ...argv] (the first slot is the sha's, filled
   * here: the caller builds one array, no copy per call), bounded by the command timeout; the answer goes to
   * `to`. No promise, timer or closure of ours per call (one coalesced call per event-loop turn): a Command
   * and the client's own promise.
   */
  call<T>(args: string[], to: Answer<T>, script = this.script): void {
    let sha = this.shas.get(script);
    if (!sha) this.shas.set(script, (sha = new Bun.CryptoHasher("sha1").update(script).digest("hex")));
    args[0] = sha;
    this.sendCommand(new Command(this, "EVALSHA", args, script, to, Date.now() + this.timeoutMs));
  }

  /** call() as a promise (the keyed and by-id paths; tests). */
  run<T = [number, string]>(keys: string[], argv: string[], script = this.script): Promise<T> {
    const args = ["", String(keys.length)];
    for (const k of keys) args.push(k);
    for (const a of argv) args.push(a);
    return new Promise((resolve, reject) => this.call(args, { stored: resolve, failed: reject }, script));
  }

  /** Any other command on the same connection (XACK: a subscriber's ack), bounded and mapped alike. */
  send<T = unknown>(command: string, args: string[]): Promise<T> {
    return new Promise((resolve, reject) => this.sendCommand(new Command(this, command, args, undefined, { stored: resolve, failed: reject }, Date.now() + this.timeoutMs)));
  }

  private sendCommand(c: Command) {
    this.inFlight.add(c);
    this.sweeper ??= setInterval(this.sweep, Math.min(SWEEP_MS, Math.max(10, this.timeoutMs / 10))).unref();
    this.client.send(c.command, c.args).then(c.answered, c.failed);
  }

  /** A command's answer; nothing when the sweep already failed it (a late answer is dropped, as before). */
  answered(c: Command, reply: unknown) {
    if (this.inFlight.delete(c)) c.to.stored(reply);
  }

  failed(c: Command, err: Error) {
    if (!this.inFlight.has(c)) return;
    if (c.script !== undefined && String(err?.message).includes("NOSCRIPT")) {
      // An emptied script cache (Redis restart, SCRIPT FLUSH): the script did not run, sending it whole is safe.
      c.args[0] = c.script;
      c.script = undefined;
      c.command = "EVAL";
      this.client.send(c.command, c.args).then(c.answered, c.failed);
      return;
    }
    this.inFlight.delete(c);
    c.to.failed(nativeFailure(err));
  }

  /** Commands past their time fail (an outage: 503); their answers, should they come, are dropped. */
  private readonly sweep = () => {
    const now = Date.now();
    for (const c of this.inFlight) {
      if (now < c.due) continue;
      this.inFlight.delete(c);
      c.to.failed(timedOut(this.timeoutMs));
    }
  };

  close() {
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.client.close();
  }
}

/** One command in flight: its answer's two handlers (the client's promise needs functions). */
class Command {
  constructor(private readonly pub: NativePublisher, public command: string, readonly args: string[], public script: string | undefined, readonly to: Answer<any>, readonly due: number) {}
  readonly answered = (reply: unknown) => this.pub.answered(this, reply);
  readonly failed = (err: Error) => this.pub.failed(this, err);
}

/**
 * A native client's command bounded by `timeoutMs`, its failures mapped as ioredis' are (nativeFailure).
 */
export function boundedNative<T>(timeoutMs: number, op: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut(timeoutMs)), timeoutMs);
    op.then(
      (v) => { clearTimeout(timer); resolve(v); },
      (err: Error) => { clearTimeout(timer); reject(nativeFailure(err)); },
    );
  });
}

/**
 * A native client's failure as ioredis' are mapped: a script or argument error ("ERR ...") is a bug and
 * passes through; LOADING, BUSY, OOM, READONLY, MASTERDOWN, a lost connection (a restarting or unhealthy
 * Redis) are an outage: StoreUnavailableError (503).
 */
export function nativeFailure(err: Error): Error {
  if ((err as any)?.code === "ERR_REDIS_SERVER_ERROR" && String(err.message).startsWith("ERR ")) return err;
  return new StoreUnavailableError(`redis unavailable: ${err?.message}`, err);
}

/** A command given up on after `timeoutMs` (an outage: 503). */
export function timedOut(timeoutMs: number): StoreUnavailableError {
  return new StoreUnavailableError(`redis unavailable: command timed out after ${timeoutMs} ms`);
}
