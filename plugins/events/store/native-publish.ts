/**
 * The coalesced publish call through Bun's native Redis client (single node only). Measured: one
 * EVALSHA with an event's 20 arguments costs ~15 µs of CPU through Bun.RedisClient against ~21–36 µs
 * through ioredis (JS RESP encoding + node-stream socket writes); that was a third of the server's CPU on
 * POST /events. Same guarantees as the ioredis path: no offline queue (a Redis that is down rejects at
 * once), a command timeout, no resend; connection failures and timeouts → StoreUnavailableError.
 * While the native client is not connected the caller uses ioredis (isReady() false) and this kicks a
 * reconnect at most once a second, so a long outage never leaves publishing on the slow path.
 */
import { RedisClient } from "bun";
import { StoreUnavailableError } from "./types";

export class NativePublisher {
  private readonly client: RedisClient;
  /** sha1 of each script run through this client (EVALSHA names a script by it). */
  private readonly shas = new Map<string, string>();
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
   * EVALSHA of `script` (the publish script unless given; EVAL once after a Redis restart emptied the
   * script cache), bounded by the command timeout.
   */
  run<T = [number, string]>(keys: string[], argv: string[], script = this.script): Promise<T> {
    let sha = this.shas.get(script);
    if (!sha) this.shas.set(script, (sha = new Bun.CryptoHasher("sha1").update(script).digest("hex")));
    const args = [sha, String(keys.length), ...keys, ...argv];
    return boundedNative(this.timeoutMs, this.client.send("EVALSHA", args).catch((err: Error) => {
      if (!String(err?.message).includes("NOSCRIPT")) throw err;
      args[0] = script; // the script did not run: sending it whole is safe
      return this.client.send("EVAL", args);
    })) as Promise<T>;
  }

  /** Any other command on the same connection (XACK: a subscriber's ack), bounded and mapped alike. */
  send<T = unknown>(command: string, args: string[]): Promise<T> {
    return boundedNative(this.timeoutMs, this.client.send(command, args)) as Promise<T>;
  }

  close() {
    this.closed = true;
    this.client.close();
  }
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
