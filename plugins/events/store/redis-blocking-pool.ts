/**
 * Connections for XREADGROUP BLOCK (a blocked connection cannot serve anyone else), and the wait for a
 * connection to be ready, for the Redis event store.
 */
import type { Conn } from "./redis-store";
import { StoreUnavailableError } from "./types";

/** Connections for XREADGROUP BLOCK (a blocked connection cannot serve anyone else). */
export class BlockingPool {
  private idle: Conn[] = [];
  private all = new Set<Conn>();
  constructor(private readonly make: () => Conn) {}
  async acquire(): Promise<Conn> {
    const c = this.idle.pop();
    if (c) return c;
    const n = this.make();
    this.all.add(n);
    if (!(await whenReady(n, 2000))) {
      this.all.delete(n);
      n.disconnect();
      throw new StoreUnavailableError("redis unavailable: connect timeout");
    }
    return n;
  }
  release(c: Conn) { if (this.all.has(c)) this.idle.push(c); }
  close() { for (const c of this.all) c.disconnect(); this.all.clear(); this.idle = []; }
}

/** Resolves true once the connection is ready, false after timeoutMs. */
export function whenReady(c: Conn, timeoutMs: number): Promise<boolean> {
  if (c.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = () => { clearTimeout(timer); resolve(true); };
    const timer = setTimeout(() => { c.off("ready", onReady); resolve(false); }, timeoutMs);
    c.once("ready", onReady);
  });
}
