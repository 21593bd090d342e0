/** The routing table is swapped atomically on reload: in-flight requests finish on the table they started with. */
import { afterAll, expect, test } from "bun:test";
import { gatewayConfig, service, startGateway, startUpstream } from "./support";

const slow = startUpstream(async () => { await Bun.sleep(400); return new Response("slow-done"); });
const fast = startUpstream(() => new Response("fast"));
afterAll(() => { slow.stop(); fast.stop(); });

test("a reload that removes a route: the in-flight request completes, the next one gets 404", async () => {
  const hc = "        health_check: { enabled: false }\n";
  const t = await startGateway(`    services:\n${service("a", "/a", [slow.url], hc)}\n${service("b", "/b", [fast.url], hc)}`);
  try {
    const base = t.url("gateway");
    const inflight = fetch(`${base}/a/x`);
    await Bun.sleep(50);
    const outcome = await t.rewrite(gatewayConfig(`    services:\n${service("b", "/b", [fast.url], hc)}\n${service("c", "/c", [fast.url], hc)}`));
    expect(outcome.ok).toBe(true);
    const r = await inflight;
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("slow-done");
    expect((await fetch(`${base}/a/x`)).status).toBe(404);
    expect(await (await fetch(`${base}/c/x`)).text()).toBe("fast");
  } finally {
    await t.stop();
  }
});

test("an invalid reload (duplicate service names) keeps the running table serving", async () => {
  const hc = "        health_check: { enabled: false }\n";
  const t = await startGateway(`    services:\n${service("b", "/b", [fast.url], hc)}`);
  try {
    const outcome = await t.rewrite(gatewayConfig(`    services:\n${service("b", "/b", [fast.url], hc)}\n${service("b", "/b2", [fast.url], hc)}`));
    expect(outcome.ok).toBe(false);
    expect(await (await fetch(`${t.url("gateway")}/b/x`)).text()).toBe("fast");
  } finally {
    await t.stop();
  }
});
