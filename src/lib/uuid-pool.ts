/** Random (version 4) UUIDs sliced from a pool (random-text.ts): the request id minted when a caller sent none, and an event's id when its publisher gave none. */
import { pooledRecords, writeHex } from "./random-text";

/** A fresh random UUID, lower-case (as crypto.randomUUID()). */
export const newUuid = pooledRecords(36, 16, (text, at, random, from) => {
  random[from + 6] = (random[from + 6] & 0x0f) | 0x40; // version 4
  random[from + 8] = (random[from + 8] & 0x3f) | 0x80; // variant 10xx (RFC 9562)
  at = writeHex(text, at, random, from, from + 4);
  text[at++] = 45;
  at = writeHex(text, at, random, from + 4, from + 6);
  text[at++] = 45;
  at = writeHex(text, at, random, from + 6, from + 8);
  text[at++] = 45;
  at = writeHex(text, at, random, from + 8, from + 10);
  text[at++] = 45;
  return writeHex(text, at, random, from + 10, from + 16);
});
