/**
 * Verified tokens until they expire, so a repeated token costs one Map lookup instead of an HMAC or
 * an ECDSA verify. Bounded LRU: a hit moves the entry to the young end; inserts evict the oldest.
 */
export interface CachedAuth<P> {
  value: P;
  /** Epoch ms after which the token is no longer accepted (exp + skew). */
  validUntilMs: number;
}

export class TokenCache<P> {
  private readonly map = new Map<string, CachedAuth<P>>();

  constructor(private readonly capacity: number) {}

  get size(): number { return this.map.size; }

  get(token: string, nowMs: number): P | undefined {
    const e = this.map.get(token);
    if (e === undefined) return undefined;
    if (e.validUntilMs <= nowMs) {
      this.map.delete(token);
      return undefined;
    }
    // LRU touch: cheap enough (two Map ops) and keeps hot tokens resident under churn.
    this.map.delete(token);
    this.map.set(token, e);
    return e.value;
  }

  set(token: string, value: P, validUntilMs: number): void {
    if (this.capacity <= 0) return;
    if (this.map.has(token)) this.map.delete(token);
    else if (this.map.size >= this.capacity) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(token, { value, validUntilMs });
  }

  clear(): void { this.map.clear(); }
}
