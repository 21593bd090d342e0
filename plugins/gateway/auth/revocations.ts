/**
 * Revoked token ids (jti) until their token would have expired anyway. Bounded: expired entries are
 * pruned on insert (at most once a second) and, if it is still full, the entry that expires soonest
 * goes first. Consulted only when a token is verified (cache miss): a revocation also evicts the
 * token from the verified-token cache (see Authenticator.revoke), so cache hits never look here.
 */
export class RevocationList {
  /** jti → epoch ms after which the entry is useless (exp + skew). */
  private readonly entries = new Map<string, number>();
  private lastPrune = 0;

  constructor(private capacity: number, private skewMs: number) {}

  /** A reload may change the bound or the skew; the entries (kept in the shared pool) stay. */
  configure(capacity: number, skewMs: number): void {
    this.capacity = capacity;
    this.skewMs = skewMs;
  }

  get size(): number { return this.entries.size; }

  /** True when newly added (or its expiry extended). `expS` is the token's exp in epoch seconds. */
  add(jti: string, expS: number, nowMs = Date.now()): boolean {
    if (typeof jti !== "string" || jti.length === 0 || jti.length > 256 || !Number.isFinite(expS)) return false;
    const until = expS * 1000 + this.skewMs;
    if (until <= nowMs) return false; // already expired: the token is refused anyway
    const prev = this.entries.get(jti);
    if (prev !== undefined && prev >= until) return false;
    if (prev === undefined && this.entries.size >= this.capacity) {
      this.prune(nowMs, true);
      if (this.entries.size >= this.capacity) this.dropSoonest();
    }
    this.entries.set(jti, until);
    if (nowMs - this.lastPrune > 1000) this.prune(nowMs);
    return true;
  }

  has(jti: string, nowMs = Date.now()): boolean {
    const until = this.entries.get(jti);
    if (until === undefined) return false;
    if (until <= nowMs) {
      this.entries.delete(jti);
      return false;
    }
    return true;
  }

  prune(nowMs = Date.now(), force = false): void {
    if (!force && nowMs - this.lastPrune < 1000) return;
    this.lastPrune = nowMs;
    for (const [jti, until] of this.entries) if (until <= nowMs) this.entries.delete(jti);
  }

  private dropSoonest(): void {
    let victim: string | undefined;
    let min = Infinity;
    for (const [jti, until] of this.entries) if (until < min) { min = until; victim = jti; }
    if (victim !== undefined) this.entries.delete(victim);
  }
}
