import { test, expect } from "bun:test";
import { Enricher } from "./enrich";

const e = new Enricher([
  { service: "trading_service", container_names: ["trading_service", "trading-*"], images: [], labels: {} },
  { service: "risk", container_names: [], images: ["tradpal/risk-engine"], labels: {} },
  { service: "strategy", container_names: [], images: [], labels: { app: "strategy", tier: "trading" } },
], "tradpal.local");

test("container name globs, image repository (tag stripped) and labels map to a service, first match wins", () => {
  expect(e.serviceOf({ "container.name": "trading-7f9c" })).toBe("trading_service");
  expect(e.serviceOf({ "container.name": "trading_service" })).toBe("trading_service");
  expect(e.serviceOf({ "container.image": "tradpal/risk-engine:1.4@sha256:abc" })).toBe("risk");
  expect(e.serviceOf({ "container.image.repository": "tradpal/risk-engine" })).toBe("risk");
  expect(e.serviceOf({ "k8s.pod.label.app": "strategy", "container.label[tier]": "trading" })).toBe("strategy");
  expect(e.serviceOf({ "k8s.pod.label.app": "strategy" })).toBeUndefined(); // every label must match
  expect(e.serviceOf({ "container.name": "<NA>" })).toBeUndefined();
  expect(e.serviceOf({ "container.name": "xtrading-1" })).toBeUndefined(); // globs are anchored
  expect(e.spiffeOf("risk")).toBe("spiffe://tradpal.local/service/risk");
});
