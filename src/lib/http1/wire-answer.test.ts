import { describe, expect, test } from "bun:test";
import type { WireClient } from "../../core/wire";
import { writeWireAnswer } from "./wire-answer";

/** A client that keeps what is written (the writer's only collaborator: bytes in, done() once). */
function capture() {
  const chunks: Buffer[] = [];
  let doneWith: boolean | undefined;
  const client = {
    write(d: string | Uint8Array) { chunks.push(typeof d === "string" ? Buffer.from(d, "latin1") : Buffer.from(d)); return true; },
    done(k: boolean) { doneWith = k; },
  } as unknown as WireClient;
  return { client, bytes: () => Buffer.concat(chunks), writes: () => chunks.length, keptAlive: () => doneWith };
}

describe("writeWireAnswer", () => {
  test("one write: status line, fields, date, length, body", () => {
    const c = capture();
    expect(writeWireAnswer(c.client, { status: 201, body: '{"id":"a"}', lines: "content-type: application/json\r\n" }, true, "POST")).toBe(true);
    const text = c.bytes().toString("latin1");
    expect(c.writes()).toBe(1);
    expect(text.startsWith("HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ndate: ")).toBe(true);
    expect(text.endsWith("content-length: 10\r\n\r\n{\"id\":\"a\"}")).toBe(true);
    expect(c.keptAlive()).toBe(true);
  });

  test("a non-ASCII body is sent as UTF-8 and its length counted in bytes", () => {
    const c = capture();
    writeWireAnswer(c.client, { status: 400, body: '{"m":"é€"}' }, true, "POST");
    const raw = c.bytes();
    const split = raw.indexOf("\r\n\r\n") + 4;
    expect(raw.subarray(split).toString("utf8")).toBe('{"m":"é€"}');
    expect(raw.subarray(0, split).toString("latin1")).toContain("content-length: " + Buffer.byteLength('{"m":"é€"}') + "\r\n");
  });

  test("HEAD carries the length but no body", () => {
    const c = capture();
    writeWireAnswer(c.client, { status: 200, body: "hello" }, true, "HEAD");
    expect(c.bytes().toString("latin1").endsWith("content-length: 5\r\n\r\n")).toBe(true);
  });

  test("fields drop hop-by-hop and framing names; connection: close closes", () => {
    const c = capture();
    const open = writeWireAnswer(c.client, { status: 503, body: "x", fields: { "retry-after": "1", "transfer-encoding": "chunked", "content-length": "99", connection: "close" } }, true, "GET");
    const text = c.bytes().toString("latin1");
    expect(open).toBe(false);
    expect(c.keptAlive()).toBe(false);
    expect(text).toContain("retry-after: 1\r\n");
    expect(text).not.toContain("transfer-encoding");
    expect(text).not.toContain("content-length: 99");
    expect(text).toContain("connection: close\r\ncontent-length: 1\r\n\r\nx");
  });

  test("keepAlive false closes", () => {
    const c = capture();
    expect(writeWireAnswer(c.client, { status: 204, body: "" }, false, "DELETE")).toBe(false);
    expect(c.bytes().toString("latin1")).toMatch(/^HTTP\/1\.1 204 No Content\r\ndate: [^\r]+\r\nconnection: close\r\n\r\n$/);
  });
});
