/** A fixed-capacity ring: pushing beyond the cap overwrites the oldest. Memory is bounded by construction. */
export class Ring<T> {
  private readonly buf: (T | undefined)[];
  private head = 0;
  size = 0;
  /** Items ever pushed (also those since overwritten). */
  total = 0;

  constructor(readonly cap: number) {
    this.buf = new Array(cap);
  }

  push(item: T): void {
    this.buf[this.head] = item;
    this.head = (this.head + 1) % this.cap;
    if (this.size < this.cap) this.size++;
    this.total++;
  }

  /** Newest first. */
  *newest(): Generator<T> {
    for (let i = 1; i <= this.size; i++) yield this.buf[(this.head - i + this.cap) % this.cap] as T;
  }
}
