/**
 * Run as its own process by test/client-env.test.ts: constructs every client WITHOUT options, so the
 * only configuration is the environment it was started with (as a service next to the platform would be),
 * makes one real call with each, and prints what it saw as one JSON line. Failures are printed, not thrown,
 * so the test sees each client's outcome.
 */
import { SecurityClient } from "../../src/clients/security-client";
import { EventClient } from "../../src/clients/event-client";
import { EventSubscriberClient } from "../../src/clients/event-subscriber";
import { CircuitBreakerClient } from "../../src/clients/circuit-breaker-client";

const outcome = async (fn: () => Promise<unknown>) => {
  try { return { ok: await fn() }; } catch (err) { return { error: (err as { code?: string }).code ?? String(err) }; }
};

const security = await outcome(async () => {
  const s = new SecurityClient();
  const token = await s.generateToken("trading_service", ["read"]);
  return { baseUrl: s.baseUrl, valid: (await s.validateToken(token)).valid };
});
const events = await outcome(async () => {
  const e = new EventClient({ source: "client-env-probe" });
  const sub = new EventSubscriberClient(e, { group: "client-env-probe", start: "all" });
  let seen = "";
  sub.registerHandler("custom.client_env", async (ev) => { seen = ev.id; });
  const published = await e.publish("custom.client_env", { n: 1 });
  await sub.startSubscribing();
  for (let i = 0; i < 100 && !seen; i++) await Bun.sleep(20);
  await sub.stop();
  return { baseUrl: e.baseUrl, published: published.id, delivered: seen };
});
const breaker = await outcome(async () => {
  const cb = new CircuitBreakerClient({ retries: 1 });
  const forced = await cb.forceOpen("trading", "client-env probe"); // needs the admin token
  await cb.resetBreaker("trading");
  return { baseUrl: cb.baseUrl, forced: forced.state };
});
console.log(JSON.stringify({ security, events, breaker }));
