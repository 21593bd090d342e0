import { expect, test } from "bun:test";
import { dataOf, sseBlocks } from "./sse-blocks";

/** A body delivered in the given pieces, as a socket might split it. */
function body(pieces: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({ start(c) { for (const p of pieces) c.enqueue(enc.encode(p)); c.close(); } });
}

test("blocks come out whole however the bytes were split, a trailing partial block is not yielded", async () => {
  const out: string[] = [];
  for await (const b of sseBlocks(body(["id: 1\ndata: {\"a\"", ":1}\n", "\nid: 2\n", "data: {}\n\n: heartbeat\n\nda", "ta: partial"]))) out.push(b);
  expect(out).toEqual(['id: 1\ndata: {"a":1}', "id: 2\ndata: {}", ": heartbeat"]);
});

test("a multi-byte character split across reads is decoded once whole", async () => {
  const bytes = new TextEncoder().encode("data: é€\n\n");
  const out: string[] = [];
  const split = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(bytes.subarray(0, 8)); c.enqueue(bytes.subarray(8)); c.close(); } });
  for await (const b of sseBlocks(split)) out.push(b);
  expect(out).toEqual(["data: é€"]);
});

test("a block's data: its data lines (with or without the space after the colon) concatenated, none for comments", () => {
  expect(dataOf('id: 1\nevent: custom.x\ndata: {"a":1}')).toBe('{"a":1}');
  expect(dataOf('data:{"a":1}')).toBe('{"a":1}');
  expect(dataOf('data: {"a":\nid: 3\ndata: 1}')).toBe('{"a":1}');
  expect(dataOf(": heartbeat")).toBe("");
  expect(dataOf("id: 4\nevent: x")).toBe("");
  expect(dataOf('id: 5\nmetadata: no\ndata: {}')).toBe("{}");
  expect(dataOf("data: ")).toBe("");
});
