/**
 * Verified tokens until they expire, so a repeated token costs one Map lookup instead of an HMAC or
 * an ECDSA verify. Bounded, with second-chance (CLOCK) eviction: a hit only sets a flag (no Map
 * reordering on the hot path); when full, the oldest entry is evicted unless it was used since it was
 * last considered, in which case it moves to the young end and loses its flag.
 */
export interface CachedAuth<P> {
  value: P;
  /** Epoch ms after which the token is no longer accepted (exp + skew). */
  validUntilMs: number;
  /** Used since it was last considered for eviction. */
  used: boolean;
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
    e.used = true;
    return e.value;
  }

  set(token: string, value: P, validUntilMs: number): void {
    if (this.capacity <= 0) return;
    const existing = this.map.get(token);
    if (existing) {
      existing.value = value;
      existing.validUntilMs = validUntilMs;
      return;
    }
    if (this.map.size >= this.capacity) this.evictOne();
    this.map.set(token, { value, validUntilMs, used: false });
  }

  private evictOne(): void {
    // At most a few second chances per insert keeps the worst case small; then the oldest goes.
    for (let chances = 16; chances > 0; chances--) {
      const oldest = this.map.entries().next().value;
      if (oldest === undefined) return;
      const [k, e] = oldest;
      this.map.delete(k);
      if (!e.used || e.validUntilMs <= Date.now()) return;
      e.used = false;
      this.map.set(k, e); // second chance: to the young end
    }
    const k = this.map.keys().next().value;
    if (k !== undefined) this.map.delete(k);
  }

  /** Remove one token (revocation); true when it was cached. */
  delete(token: string): boolean { return this.map.delete(token); }

  /** Token → value of every entry (rebuilding a side index). */
  *entries(): IterableIterator<[string, P]> {
    for (const [k, e] of this.map) yield [k, e.value];
  }

  clear(): void { this.map.clear(); }
}
