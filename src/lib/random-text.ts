/**
 * Random ids as slices of one string: 64 records made at a time from one crypto fill, then each id is a
 * slice (a JS string per id, no formatting per id). The gateway mints a request id and a traceparent for
 * most requests it proxies; formatting each on its own cost ~80 ns (crypto.randomUUID) to ~150 ns (two
 * hex ids and a template), measured.
 */
const PER_FILL = 64;
export const HEX_DIGITS = new TextEncoder().encode("0123456789abcdef");

/**
 * A maker of `length`-character records: `format` writes one at `text[at]` from `random[from, from + randomBytes)`
 * (ASCII only) and returns where it ended.
 */
export function pooledRecords(length: number, randomBytes: number, format: (text: Buffer, at: number, random: Uint8Array, from: number) => number): () => string {
  const random = new Uint8Array(PER_FILL * randomBytes);
  const text = Buffer.alloc(PER_FILL * length);
  let records = "";
  let next = PER_FILL;
  return () => {
    if (next === PER_FILL) {
      crypto.getRandomValues(random);
      for (let r = 0; r < PER_FILL; r++) {
        if (format(text, r * length, random, r * randomBytes) !== (r + 1) * length) throw new Error("a pooled record has the wrong length");
      }
      records = text.toString("latin1");
      next = 0;
    }
    const at = next++ * length;
    return records.slice(at, at + length);
  };
}

/** Write `random[from, to)` as lower-case hex at `text[at]`; returns the end. */
export function writeHex(text: Buffer, at: number, random: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const b = random[i];
    text[at++] = HEX_DIGITS[b >> 4];
    text[at++] = HEX_DIGITS[b & 15];
  }
  return at;
}
