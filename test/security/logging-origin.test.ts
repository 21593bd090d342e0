/** The attack suite's own instrument: the logging origin must see smuggled requests, or the suite proves nothing. */
import { afterAll, expect, test } from "bun:test";
import { RawConn } from "../support/raw-http";
import { startLoggingOrigin } from "./support/logging-origin";

const origin = startLoggingOrigin();
afterAll(() => origin.stop());

test("a body that carries a second request is logged as two requests, and the second is unexpected", async () => {
  origin.reset();
  const c = await RawConn.open(origin.port);
  await c.write("POST /a HTTP/1.1\r\nhost: x\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 6.6.6.6\r\n\r\n");
  await origin.waitFor(2);
  origin.allow((r) => r.target === "/a");
  expect(origin.requests.map((r) => r.target)).toEqual(["/a", "/smuggled"]);
  expect(origin.unexpected().map((r) => r.header("x-forwarded-for"))).toEqual(["6.6.6.6"]);
  c.socket.end();
});

test("chunked and content-length bodies are framed; garbage is recorded", async () => {
  origin.reset();
  const c = await RawConn.open(origin.port);
  await c.write("POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nPUT /l HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi");
  await origin.waitFor(2);
  expect(origin.requests.map((r) => [r.method, r.body.toString()])).toEqual([["POST", "abc"], ["PUT", "hi"]]);
  await c.write("NOT HTTP\r\n\r\n");
  await c.waitClosed(2000);
  expect(origin.garbage.length).toBe(1);
});
