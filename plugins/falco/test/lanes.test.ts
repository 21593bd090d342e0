/**
 * The intake has two lanes: the host's raw HTTP/1.1 front (whole bodies, intake-wire.ts) and Bun.serve
 * (split or chunked bodies, fetch). Raw bytes over a socket check both give the same answers, keep-alive
 * and pipelining work, and Connection: close is honoured.
 */
import { test, expect, beforeAll, afterAll } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";
import { RawConn } from "../../../test/support/raw-http";
import { alertOf } from "./support";

let t: TestHost;
let port: number;
beforeAll(async () => {
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  falco:
    port: 0
    intake: { shared_secret: lane-secret }
`);
  port = Number(new URL(t.url("falco")).port);
});
afterAll(async () => { await t.stop(); });

const req = (body: string, extra = "") => `POST /falco/alerts?token=lane-secret HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-request-id: rid-1\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n`;

test("whole body (wire lane) and a body sent after a pause (fetch lane) answer alike; pipelined requests in order", async () => {
  const body = JSON.stringify([alertOf(), alertOf()]);
  const c = await RawConn.open(port);
  await c.write(req(body) + body + req(body) + body); // two pipelined requests in one write
  const a = await c.read();
  const b = await c.read();
  for (const r of [a, b]) {
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('{"accepted":2}');
    expect(r.header("x-request-id")).toBe("rid-1");
    expect(r.header("content-type")).toBe("application/json");
  }
  await c.write(req(body));
  await Bun.sleep(50);
  await c.write(body);
  const split = await c.read();
  expect(split.status).toBe(200);
  expect(split.body.toString()).toBe('{"accepted":2}');
  const bad = "{not json";
  await c.write(req(bad) + bad);
  const e = await c.read();
  expect(e.status).toBe(400);
  expect(JSON.parse(e.body.toString()).error).toMatchObject({ code: "FALCO_ERR_PARSE", where: "/" });
  c.socket.end();
});

test("an answer with non-ASCII text is framed by its bytes", async () => {
  const bad = '{"rule": é€}';
  const c = await RawConn.open(port);
  await c.write(Buffer.concat([Buffer.from(req(bad).replace(`content-length: ${bad.length}`, `content-length: ${Buffer.byteLength(bad)}`)), Buffer.from(bad)]));
  const r = await c.read();
  expect(r.status).toBe(400);
  expect(Number(r.header("content-length"))).toBe(r.body.byteLength);
  expect(JSON.parse(r.body.toString("utf8")).error.code).toBe("FALCO_ERR_PARSE");
  c.socket.end();
});

test("Expect: 100-continue (libcurl, which Falco's http_output uses, sends it for larger bodies) gets 100 then the answer", async () => {
  const file = `${t.dir}/expect.json`;
  await Bun.write(file, JSON.stringify(Array.from({ length: 20 }, () => alertOf())));
  const p = Bun.spawn(["curl", "-sS", "-v", "--max-time", "5", "-H", "Expect: 100-continue", "-H", "content-type: application/json", "-H", "x-falco-token: lane-secret", "--data-binary", `@${file}`, `http://127.0.0.1:${port}/`], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toContain("< HTTP/1.1 100 Continue");
  expect(err).toContain("< HTTP/1.1 200 OK");
  expect(out).toBe('{"accepted":20}');
});

test("a wrong secret is refused on the wire lane too; Connection: close closes after the answer", async () => {
  const body = JSON.stringify(alertOf());
  const c = await RawConn.open(port);
  await c.write(req(body).replace("token=lane-secret", "token=nope") + body);
  const r = await c.read();
  expect(r.status).toBe(401);
  expect(JSON.parse(r.body.toString()).error.code).toBe("FALCO_ERR_UNAUTHORIZED");
  await c.write(req(body, "connection: close\r\n") + body);
  const last = await c.read();
  expect(last.status).toBe(200);
  expect(await c.waitClosed()).toBe(true);
});
