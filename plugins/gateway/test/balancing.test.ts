/** Each balancing algorithm through the gateway, against real upstreams on port 0. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { load, service, startGateway, startUpstream, type Upstream } from "./support";
import type { TestHost } from "../../../test/support/harness";

let t: TestHost;
let base: string;
const ups: Record<string, Upstream> = {};
const NO_HC = "        health_check: { enabled: false }\n";

beforeAll(async () => {
  for (const n of ["w1", "w2", "r1", "r2", "r3", "lfast", "p1", "p2"]) ups[n] = startUpstream(undefined, { record: false });
  ups.lslow = startUpstream(async () => { await Bun.sleep(150); return new Response("slow"); }, { record: false });
  ups.pslow = startUpstream(async () => { await Bun.sleep(25); return new Response("slow"); }, { record: false });
  t = await startGateway(`    services:
      - name: weighted
        path_prefix: /w
        load_balancing: weighted
        instances:
          - { url: "${ups.w1.url}", weight: 3 }
          - { url: "${ups.w2.url}", weight: 1 }
${NO_HC}${service("rr", "/rr", [ups.r1.url, ups.r2.url, ups.r3.url], NO_HC)}
${service("lc", "/lc", [ups.lslow.url, ups.lfast.url], NO_HC + "        load_balancing: least_connections\n")}
${service("p2c", "/p2c", [ups.pslow.url, ups.p1.url, ups.p2.url], NO_HC + "        load_balancing: p2c_ewma\n")}
`);
  base = t.url("gateway");
});
afterAll(async () => { await t?.stop(); for (const u of Object.values(ups)) u.stop(); });

describe("distribution", () => {
  test("weighted 3:1 over 4,000 requests is within 5% of 3:1", async () => {
    const res = await load(4000, 32, () => fetch(`${base}/w/x`));
    expect(res.every((r) => r.status === 200)).toBe(true);
    const share = ups.w1.hits / (ups.w1.hits + ups.w2.hits);
    expect(ups.w1.hits + ups.w2.hits).toBe(4000);
    expect(Math.abs(share - 0.75)).toBeLessThan(0.75 * 0.05);
  });

  test("round robin spreads 3,000 requests evenly over three instances", async () => {
    await load(3000, 16, () => fetch(`${base}/rr/x`));
    for (const n of ["r1", "r2", "r3"]) expect(ups[n].hits).toBe(1000);
  });

  test("least connections sends most traffic to the fast instance while the slow one is busy", async () => {
    const res = await load(400, 8, () => fetch(`${base}/lc/x`));
    expect(res.every((r) => r.status === 200)).toBe(true);
    // The slow instance holds a request for 150 ms; meanwhile the fast one drains the rest.
    expect(ups.lslow.hits).toBeLessThan(40);
    expect(ups.lfast.hits).toBeGreaterThan(360);
  });

  test("p2c_ewma learns the slow instance's latency and avoids it", async () => {
    const res = await load(600, 8, () => fetch(`${base}/p2c/x`));
    expect(res.every((r) => r.status === 200)).toBe(true);
    const fast = ups.p1.hits + ups.p2.hits;
    expect(ups.pslow.hits).toBeLessThan(fast / 5);
  });
});
