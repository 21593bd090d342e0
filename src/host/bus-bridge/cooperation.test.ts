import { test, expect } from "bun:test";
import { missingCooperation } from "./cooperation";

const ALL = ["gateway", "security", "events", "breaker", "falco"];

test("one process hosting everything, or the only enabled side of a link, cuts nothing", () => {
  expect(missingCooperation(ALL, ALL)).toEqual([]);
  expect(missingCooperation(["gateway"], ["gateway"])).toEqual([]);
  expect(missingCooperation(["gateway", "events"], ["gateway", "events", "security"]).some((l) => l.startsWith("security → events"))).toBe(true);
});

test("a process with one side of a link and the other side enabled elsewhere names the link, both ways", () => {
  expect(missingCooperation(["gateway"], ALL)).toEqual([
    "gateway → breaker: circuit breaking of the gateway's services (permits, outcomes, the service list)",
    "falco → gateway: quarantine of a service's routes at the gateway",
    "security → gateway: token revocations reaching the gateway",
  ]);
  expect(missingCooperation(["breaker"], ALL).map((l) => l.split(":")[0])).toEqual(["gateway → breaker", "breaker → events"]);
  expect(missingCooperation(["events", "breaker"], ALL).map((l) => l.split(":")[0])).toEqual(["gateway → breaker", "falco → events", "security → events"]);
});
