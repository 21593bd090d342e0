/** Each transformation through the gateway: request/response header add/set/remove/rename, path rewrite, query edits. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { service, startGateway, startUpstream, type Upstream } from "./support";
import type { TestHost } from "../../../test/support/harness";

let t: TestHost;
let base: string;
let up: Upstream;

beforeAll(async () => {
  up = startUpstream(() => new Response("ok", { headers: { "x-internal": "1", "x-old-name": "v", server: "origin/1.0", "x-multi": "a" } }));
  t = await startGateway(`    services:
${service("tx", "/tx", [up.url], `        strip_prefix: true
        health_check: { enabled: false }
        transform:
          request_headers:
            add: { x-added: "one" }
            set: { x-env: "prod" }
            remove: [x-debug]
            rename: { x-client-token: x-upstream-token }
          response_headers:
            add: { x-multi: "b" }
            set: { server: "tradpal" }
            remove: [x-internal]
            rename: { x-old-name: x-new-name }
          path: { pattern: "^/v1/(.*)$", replacement: "/api/$1" }
          query:
            set: { source: gateway }
            remove: [secret]
            rename: { q: query }
`)}`);
  base = t.url("gateway");
});
afterAll(async () => { await t?.stop(); up?.stop(); });

async function call(path: string, headers: Record<string, string> = {}) {
  const before = up.seen.length;
  const r = await fetch(`${base}${path}`, { headers });
  await r.text();
  return { res: r, seen: up.seen[before] };
}

test("request header add keeps the client's value and appends ours", async () => {
  const { seen } = await call("/tx/v1/x", { "x-added": "zero" });
  expect(seen.headers.get("x-added")).toBe("zero, one");
});

test("request header set replaces, remove drops, rename moves the value", async () => {
  const { seen } = await call("/tx/v1/x", { "x-env": "dev", "x-debug": "1", "x-client-token": "tok" });
  expect(seen.headers.get("x-env")).toBe("prod");
  expect(seen.headers.get("x-debug")).toBeNull();
  expect(seen.headers.get("x-client-token")).toBeNull();
  expect(seen.headers.get("x-upstream-token")).toBe("tok");
});

test("response headers: set, remove, rename, add", async () => {
  const { res } = await call("/tx/v1/x");
  expect(res.headers.get("server")).toBe("tradpal");
  expect(res.headers.get("x-internal")).toBeNull();
  expect(res.headers.get("x-old-name")).toBeNull();
  expect(res.headers.get("x-new-name")).toBe("v");
  expect(res.headers.get("x-multi")).toBe("a, b");
});

test("path rewrite applies after strip_prefix", async () => {
  const { seen } = await call("/tx/v1/users/7");
  expect(seen.path.split("?")[0]).toBe("/api/users/7");
});

test("a path the rewrite does not match passes unchanged", async () => {
  const { seen } = await call("/tx/other");
  expect(seen.path.split("?")[0]).toBe("/other");
});

test("query: set, remove and rename", async () => {
  const { seen } = await call("/tx/v1/s?q=books&secret=x&keep=1&source=client");
  const params = new URL(`http://h${seen.path}`).searchParams;
  expect(params.get("query")).toBe("books");
  expect(params.get("q")).toBeNull();
  expect(params.get("secret")).toBeNull();
  expect(params.get("keep")).toBe("1");
  expect(params.getAll("source")).toEqual(["gateway"]);
});

test("an invalid transformation (bad regex) refuses the config at provision", async () => {
  const { startHost } = await import("../../../test/support/harness");
  const { gatewayConfig } = await import("./support");
  await expect(startHost(gatewayConfig(`    services:\n${service("bad", "/bad", [up.url], "        transform: { path: { pattern: \"([\", replacement: x } }\n")}`), { only: ["gateway"] })).rejects.toThrow();
});
