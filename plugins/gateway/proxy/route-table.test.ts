/** The compiled route table: longest whole-segment prefix, host and method filters. Pure. */
import { describe, expect, test } from "bun:test";
import { RouteTable, METHOD_MISMATCH, hostOnly, stripPrefix } from "./route-table";

const table = new RouteTable<string>([
  { prefix: "/", methods: [], target: "root" },
  { prefix: "/api", methods: [], target: "api" },
  { prefix: "/api/users", methods: [], target: "users" },
  { prefix: "/api/users/admin", methods: ["GET"], target: "admin-get" },
  { prefix: "/api/orders", host: "*.example.com", methods: [], target: "any-example-orders" },
  { prefix: "/api/orders", host: "*.tenant.io", methods: [], target: "tenant-orders" },
  { prefix: "/api/orders", host: "shop.example.com", methods: [], target: "shop-orders" },
  { prefix: "/api/orders", methods: [], target: "orders" },
]);

describe("longest prefix", () => {
  const cases: [string, string | undefined][] = [
    ["/api/users/7", "users"],
    ["/api/users", "users"],
    ["/api/users/", "users"],
    ["/api/usersx", "api"],
    ["/api", "api"],
    ["/apix", "root"],
    ["/", "root"],
    ["/api//users/7", "users"],
  ];
  for (const [path, want] of cases) test(`${path} → ${want}`, () => expect(table.match(path, "h", "GET")).toBe(want as string));
});

describe("filters", () => {
  test("host: exact beats wildcard beats any", () => {
    expect(table.match("/api/orders/1", "shop.example.com", "GET")).toBe("shop-orders");
    expect(table.match("/api/orders/1", "eu.tenant.io", "GET")).toBe("tenant-orders");
    expect(table.match("/api/orders/1", "www.example.com", "GET")).toBe("any-example-orders");
    expect(table.match("/api/orders/1", "other", "GET")).toBe("orders");
  });
  test("a method the deepest route refuses is a mismatch (405), not a fall-back to a shallower route", () => {
    expect(table.match("/api/users/admin/x", "h", "GET")).toBe("admin-get");
    expect(table.match("/api/users/admin/x", "h", "DELETE")).toBe(METHOD_MISMATCH);
  });
  test("no match at all without a root route", () => {
    const t = new RouteTable<string>([{ prefix: "/only", methods: [], target: "only" }]);
    expect(t.match("/other", "h", "GET")).toBeUndefined();
    expect(t.match("/only/x", "h", "GET")).toBe("only");
  });
  test("cost does not depend on the number of routes (10,000 routes still match correctly)", () => {
    const many = new RouteTable<number>(Array.from({ length: 10_000 }, (_, i) => ({ prefix: `/svc${i}/v1`, methods: [], target: i })));
    expect(many.match("/svc9999/v1/x", "h", "GET")).toBe(9999);
    expect(many.match("/svc5000/v2", "h", "GET")).toBeUndefined();
  });
});

test("hostOnly drops the port and lower-cases; keeps IPv6 brackets", () => {
  expect(hostOnly("Api.Example.com:8000")).toBe("api.example.com");
  expect(hostOnly("[::1]:8000")).toBe("[::1]");
  expect(hostOnly(null)).toBe("");
});

test("stripPrefix", () => {
  expect(stripPrefix("/api/users/7", "/api")).toBe("/users/7");
  expect(stripPrefix("/api", "/api")).toBe("/");
  expect(stripPrefix("/api/x", "/api/")).toBe("/x");
  expect(stripPrefix("/x", "/")).toBe("/x");
});

describe("methods (the Allow of a 405)", () => {
  const t = new RouteTable<string>([
    { prefix: "/", methods: ["GET", "HEAD"], target: "root" },
    { prefix: "/api", methods: ["GET", "POST"], target: "api-get-post" },
    { prefix: "/api", methods: ["DELETE"], host: "admin.example.com", target: "api-admin-delete" },
    { prefix: "/dav", methods: ["PROPFIND", "M-SEARCH"], target: "dav" },
  ]);
  test("methods are case-sensitive: 'get' is a mismatch, not GET", () => {
    expect(t.match("/api/x", "h", "GET")).toBe("api-get-post");
    expect(t.match("/api/x", "h", "get")).toBe(METHOD_MISMATCH);
  });
  test("allowedAt: the deepest node's methods for this host", () => {
    expect(t.allowedAt("/api/x", "h").sort()).toEqual(["GET", "POST"]);
    expect(t.allowedAt("/api/x", "admin.example.com").sort()).toEqual(["DELETE", "GET", "POST"]);
    expect(t.allowedAt("/other", "h").sort()).toEqual(["GET", "HEAD"]);
    expect(t.allowedAt("/dav/a/b", "h")).toEqual(["PROPFIND", "M-SEARCH"]);
  });
  test("methods: every method some route lists (501 vs 405)", () => {
    expect([...t.methods].sort()).toEqual(["DELETE", "GET", "HEAD", "M-SEARCH", "POST", "PROPFIND"]);
  });
});
