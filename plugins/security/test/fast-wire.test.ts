/**
 * The hot endpoints on the host's raw HTTP/1.1 lane (http/fast-wire.ts) answer exactly as the fetch lane
 * does. A raw-socket client sends each request twice: pipelined HTTP/1.1 with a Content-Length body (the
 * raw lane takes it) and in a form the raw lane declines (a chunked body, or HTTP/1.0), which Bun.serve
 * and Elysia answer; status, body, content type and X-Request-Id must match. The host's debug request
 * lines (lane: wire) show which lane answered; every answered request has its audit line, chained.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, renameSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { startSecurity, run, type SecurityHarness } from "./support";

interface Reply { status: number; headers: Record<string, string>; body: string }

/** Send `raw` on one connection and read `count` answers (Content-Length framed; none after a HEAD: `bodiless`), in order. */
async function exchange(port: number, raw: string, count: number, bodiless = false): Promise<{ replies: Reply[]; closed: boolean }> {
  let buf = Buffer.alloc(0);
  let closed = false;
  let wake = () => {};
  const sock = await Bun.connect({
    hostname: "127.0.0.1", port,
    socket: { data(_s, d) { buf = Buffer.concat([buf, d]); wake(); }, close() { closed = true; wake(); } },
  });
  sock.write(raw);
  const replies: Reply[] = [];
  const deadline = Date.now() + 5000;
  while (replies.length < count && Date.now() < deadline) {
    const end = buf.indexOf("\r\n\r\n");
    const head = end < 0 ? "" : buf.toString("latin1", 0, end);
    const length = bodiless ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (end < 0 || buf.length < end + 4 + length) {
      if (closed) break;
      await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
      continue;
    }
    const [statusLine, ...lines] = head.split("\r\n");
    const headers: Record<string, string> = {};
    for (const l of lines) { const i = l.indexOf(":"); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
    replies.push({ status: Number(statusLine.split(" ")[1]), headers, body: buf.toString("utf8", end + 4, end + 4 + length) });
    buf = buf.subarray(end + 4 + length);
  }
  await Bun.sleep(20);
  const wasClosed = closed;
  sock.end();
  return { replies, closed: wasClosed };
}

type Req = { method: string; path: string; headers: Record<string, string>; body?: string };
const fieldsOf = (h: Record<string, string>) => Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join("");
/** HTTP/1.1, body with Content-Length: the raw lane's form. */
const wireForm = (r: Req) => `${r.method} ${r.path} HTTP/1.1\r\nhost: localhost\r\n${fieldsOf(r.headers)}${r.body !== undefined ? `content-length: ${Buffer.byteLength(r.body)}\r\n` : ""}\r\n${r.body ?? ""}`;
/** Declined by the raw lane: a chunked body (POST) or HTTP/1.0 (GET), so Bun.serve + Elysia answer. */
const fetchForm = (r: Req) => r.body !== undefined
  ? `${r.method} ${r.path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n${fieldsOf(r.headers)}transfer-encoding: chunked\r\n\r\n${Buffer.byteLength(r.body).toString(16)}\r\n${r.body}\r\n0\r\n\r\n`
  : `${r.method} ${r.path} HTTP/1.0\r\nhost: localhost\r\n${fieldsOf(r.headers)}\r\n`;

let s: SecurityHarness;
let port: number;
let token: string;
let other: string;
beforeAll(async () => {
  s = await startSecurity(`services:\n  orders: { scopes: [read] }\n  billing: { scopes: [read] }`, { host: "  log_level: debug" });
  port = Number(new URL(s.base).port);
  const h = s.auth();
  token = (await (await fetch(`${s.base}/tokens/orders`, { method: "POST", headers: h, body: "{}" })).json()).token;
  other = (await (await fetch(`${s.base}/tokens/billing`, { method: "POST", headers: h, body: "{}" })).json()).token;
  await fetch(`${s.base}/secrets/services/orders/db`, { method: "PUT", headers: h, body: JSON.stringify({ data: { password: "pä$$" } }) });
});
afterAll(async () => { await s?.stop(); });

/** The cases: the same contract on both lanes. `id` becomes the X-Request-Id (a lane prefix added). */
function cases(): (Req & { id: string })[] {
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const json = { "content-type": "application/json" };
  return [
    { id: "v-ok", method: "POST", path: "/tokens/validate", headers: { ...bearer(s.admin), ...json }, body: JSON.stringify({ token }) },
    { id: "v-self", method: "POST", path: "/tokens/validate", headers: { ...bearer(token), ...json }, body: JSON.stringify({ token, audience: "nobody" }) },
    { id: "v-invalid", method: "POST", path: "/tokens/validate", headers: { ...bearer(s.admin), ...json }, body: JSON.stringify({ token: "a.b.c" }) },
    { id: "v-noauth", method: "POST", path: "/tokens/validate", headers: json, body: JSON.stringify({ token }) },
    { id: "v-badauth", method: "POST", path: "/tokens/validate", headers: { authorization: "Basic eDp5", ...json }, body: JSON.stringify({ token }) },
    { id: "v-badtoken", method: "POST", path: "/tokens/validate", headers: { ...bearer("tps_wrong"), ...json }, body: JSON.stringify({ token }) },
    { id: "v-badjson", method: "POST", path: "/tokens/validate", headers: { ...bearer(s.admin), ...json }, body: "{not json" },
    { id: "v-notstring", method: "POST", path: "/tokens/validate", headers: { ...bearer(s.admin), ...json }, body: JSON.stringify({ token: 7 }) },
    { id: "v-empty", method: "POST", path: "/tokens/validate", headers: bearer(s.admin), body: "" },
    { id: "v-oversize", method: "POST", path: "/tokens/validate", headers: { ...bearer(s.admin), ...json }, body: JSON.stringify({ token: "x".repeat(9000) }) },
    { id: "s-ok", method: "GET", path: "/secrets/services/orders/db", headers: bearer(token) },
    { id: "s-version", method: "GET", path: "/secrets/services/orders/db?version=1", headers: bearer(s.admin) },
    { id: "s-badversion", method: "GET", path: "/secrets/services/orders/db?version=x", headers: bearer(s.admin) },
    { id: "s-metadata", method: "GET", path: "/secrets/services/orders/db?metadata=true", headers: bearer(s.admin) },
    { id: "s-list", method: "GET", path: "/secrets/services/orders?list=true", headers: bearer(s.admin) },
    { id: "s-unknown", method: "GET", path: "/secrets/services/orders/nope", headers: bearer(token) },
    { id: "s-forbidden", method: "GET", path: "/secrets/services/orders/db", headers: bearer(other) },
    { id: "s-noauth", method: "GET", path: "/secrets/services/orders/db", headers: {} },
    { id: "s-badpath", method: "GET", path: "/secrets/services/orders/a%ZZ", headers: bearer(s.admin) },
    { id: "s-encoded", method: "GET", path: "/secrets/services%2Forders%2Fdb", headers: bearer(s.admin) },
  ];
}

const laneOf = (id: string) => s.t.logs.find((l) => l.request_id === id && l.msg === "request")?.lane;

test("pipelined on one kept-alive connection: every hot request is answered on the raw lane, in order, as the fetch lane answers it", async () => {
  const all = cases();
  const wire = await exchange(port, all.map((c) => wireForm({ ...c, headers: { ...c.headers, "x-request-id": `w-${c.id}` } })).join(""), all.length);
  expect(wire.replies).toHaveLength(all.length);
  expect(wire.closed).toBe(false); // kept alive through the whole pipeline
  for (const [i, c] of all.entries()) {
    const f = (await exchange(port, fetchForm({ ...c, headers: { ...c.headers, "x-request-id": `f-${c.id}` } }), 1)).replies[0];
    const w = wire.replies[i];
    expect({ id: c.id, status: w.status, body: w.body, type: w.headers["content-type"] }).toEqual({ id: c.id, status: f.status, body: f.body, type: f.headers["content-type"] });
    expect(w.headers["x-request-id"]).toBe(`w-${c.id}`);
    expect(f.headers["x-request-id"]).toBe(`f-${c.id}`);
    if (w.status >= 400) expect(JSON.parse(w.body).error.code).toMatch(/^SEC_ERR_/);
  }
  await Bun.sleep(50);
  expect(laneOf("w-s-ok")).toBe("wire");
  expect(laneOf("w-v-ok")).toBe("wire");
  expect(laneOf("f-s-ok")).toBeUndefined(); // the fetch lane's request line names no lane
  // Every answered request that is audited has its line, and the chain (and seal) verify.
  const text = readFileSync(join(s.dataDir, "security", "audit.log"), "utf8");
  for (const id of ["v-ok", "v-self", "v-invalid", "v-noauth", "v-badauth", "v-badtoken", "s-ok", "s-version", "s-unknown", "s-forbidden", "s-noauth", "s-list", "s-metadata"]) {
    for (const lane of ["w", "f"]) expect(text).toContain(`"request_id":"${lane}-${id}"`);
  }
  expect((await run(["bun", "run", "audit:verify", join(s.dataDir, "security", "audit.log")])).code).toBe(0);
});

test("each answer on the raw lane finds its audit line already in the file", async () => {
  const file = join(s.dataDir, "security", "audit.log");
  for (let i = 0; i < 10; i++) {
    const path = i % 2 ? "/secrets/services/orders/db" : "/tokens/validate";
    const body = i % 2 ? undefined : JSON.stringify({ token });
    const { replies } = await exchange(port, wireForm({ method: i % 2 ? "GET" : "POST", path, headers: { authorization: `Bearer ${token}`, "x-request-id": `seq-${i}` }, body }), 1);
    expect(replies[0].status).toBe(200);
    expect(readFileSync(file, "utf8")).toContain(`"request_id":"seq-${i}"`);
  }
});

test("X-Request-Id: a valid one is echoed, a missing or malformed one replaced by a fresh id on both lanes", async () => {
  const base = { method: "GET", path: "/secrets/services/orders/db", headers: { authorization: `Bearer ${token}` } };
  for (const form of [wireForm, fetchForm]) {
    const bad = (await exchange(port, form({ ...base, headers: { ...base.headers, "x-request-id": "has space" } }), 1)).replies[0];
    const none = (await exchange(port, form(base), 1)).replies[0];
    const long = (await exchange(port, form({ ...base, headers: { ...base.headers, "x-request-id": "x".repeat(129) } }), 1)).replies[0];
    for (const r of [bad, none, long]) expect(r.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  }
});

test("HEAD, odd methods and Connection: close: declined to the fetch lane or closed as asked", async () => {
  const h = { authorization: `Bearer ${s.admin}`, "x-request-id": "odd-1" };
  const head = (await exchange(port, wireForm({ method: "HEAD", path: "/secrets/services/orders/db", headers: h }), 1, true)).replies[0];
  const head10 = (await exchange(port, fetchForm({ method: "HEAD", path: "/secrets/services/orders/db", headers: h }), 1, true)).replies[0];
  expect(head.status).toBe(head10.status);
  expect(head.body).toBe("");
  const patch = (await exchange(port, wireForm({ method: "PATCH", path: "/tokens/validate", headers: h, body: "{}" }), 1)).replies[0];
  expect(patch.status).toBe(404);
  expect(JSON.parse(patch.body).error.code).toBe("SEC_ERR_NOT_FOUND");
  const closing = await exchange(port, wireForm({ method: "GET", path: "/secrets/services/orders/db", headers: { ...h, connection: "close" } }), 1);
  expect(closing.replies[0].status).toBe(200);
  expect(closing.replies[0].headers.connection).toBe("close");
  expect(closing.closed).toBe(true);
});

test("fail closed on the raw lane: an unwritable audit log answers 503 SEC_ERR_AUDIT_UNAVAILABLE and acknowledges nothing; the line is written later", async () => {
  const file = join(s.dataDir, "security", "audit.log");
  renameSync(file, `${file}.saved`);
  mkdirSync(file);
  let replies: Reply[];
  try {
    ({ replies } = await exchange(port, wireForm({ method: "POST", path: "/tokens/validate", headers: { authorization: `Bearer ${token}`, "x-request-id": "wire-down" }, body: JSON.stringify({ token }) })
      + wireForm({ method: "GET", path: "/secrets/services/orders/db", headers: { authorization: `Bearer ${token}`, "x-request-id": "wire-down-2" } }), 2));
  } finally {
    rmdirSync(file);
    renameSync(`${file}.saved`, file);
  }
  for (const [i, r] of replies.entries()) {
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).error.code).toBe("SEC_ERR_AUDIT_UNAVAILABLE");
    expect(r.headers["retry-after"]).toBe("1");
    expect(r.headers["x-request-id"]).toBe(i === 0 ? "wire-down" : "wire-down-2");
  }
  const back = (await exchange(port, wireForm({ method: "GET", path: "/secrets/services/orders/db", headers: { authorization: `Bearer ${token}`, "x-request-id": "wire-back" } }), 1)).replies[0];
  expect(back.status).toBe(200);
  const ids = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).request_id);
  expect(ids.slice(-3)).toEqual(["wire-down", "wire-down-2", "wire-back"]);
  expect((await run(["bun", "run", "audit:verify", file])).code).toBe(0);
});
