/** The front's pure rules: which targets are the host's own endpoints (never offered to a plugin's wire handler). */
import { expect, test } from "bun:test";
import { isHostPath } from "./head-rules";

test("the host's endpoints, bare or with a query (/health also with a sub-path), are the host's", () => {
  for (const t of ["/health", "/health?x=1", "/health/ready", "/metrics", "/metrics?name[]=a", "/openapi.json", "/openapi.json?v", "/docs", "/docs?x", "/-/config", "/-/config?diff"]) {
    expect(isHostPath(t)).toBe(true);
  }
});

test("anything else, including look-alikes and other prefixes, is the plugin's", () => {
  for (const t of ["/", "/api/bench", "/healthz", "/health-check", "/metricsx", "/metrics/", "/openapi.jsonx", "/docsy", "/docs/", "/-/configs", "/-/", "/h", "/m", "/o", "/d", "/-", "/x/health", "/Health", "", "*"]) {
    expect(isHostPath(t)).toBe(false);
  }
});
