/** Host-matched routes through the gateway: exact host, wildcard, and the host-agnostic fallback. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rawRequest, service, startGateway, startUpstream, type Upstream } from "./support";
import type { TestHost } from "../../../test/support/harness";

let t: TestHost;
const ups: Upstream[] = [];

beforeAll(async () => {
  for (const name of ["exact", "wild", "any"]) ups.push(startUpstream(() => new Response(name)));
  const hc = "        health_check: { enabled: false }\n";
  t = await startGateway(`    services:
${service("exact", "/api", [ups[0].url], hc + "        host: api.example.com\n")}
${service("wild", "/api", [ups[1].url], hc + "        host: \"*.tenant.io\"\n")}
${service("any", "/api", [ups[2].url], hc)}`);
});
afterAll(async () => { await t?.stop(); for (const u of ups) u.stop(); });

async function bodyFor(host: string): Promise<string> {
  const reply = await rawRequest(Number(new URL(t.url("gateway")).port), `GET /api/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return reply.slice(reply.indexOf("\r\n\r\n") + 4);
}

test("exact host, wildcard host (case-insensitive, port ignored), then the host-agnostic route", async () => {
  expect(await bodyFor("api.example.com")).toBe("exact");
  expect(await bodyFor("API.Example.com:8000")).toBe("exact");
  expect(await bodyFor("eu.tenant.io")).toBe("wild");
  expect(await bodyFor("other.org")).toBe("any");
});
