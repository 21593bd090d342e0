/**
 * Request headers as parsed from the wire: a flat [name, value, name, value...] array with
 * lowercased names, in arrival order. It answers the read side of the Headers API (get, has,
 * forEach) so code written against Headers runs on it without building a Headers per request.
 */
export class PairHeaders {
  constructor(readonly pairs: string[]) {}

  /** Like Headers.get: repeated fields joined with ", "; null when absent. */
  get(name: string): string | null {
    const p = this.pairs;
    let out: string | null = null;
    for (let i = 0; i < p.length; i += 2) {
      if (p[i] === name) out = out === null ? p[i + 1] : out + ", " + p[i + 1];
    }
    return out;
  }

  has(name: string): boolean {
    const p = this.pairs;
    for (let i = 0; i < p.length; i += 2) if (p[i] === name) return true;
    return false;
  }

  /** Every field line in arrival order (repeated fields are not joined). */
  forEach(fn: (value: string, name: string) => void): void {
    const p = this.pairs;
    for (let i = 0; i < p.length; i += 2) fn(p[i + 1], p[i]);
  }
}

/** The read-only header view shared by Headers and PairHeaders. */
export interface HeaderView {
  get(name: string): string | null;
  has(name: string): boolean;
  forEach(fn: (value: string, name: string) => void): void;
}
