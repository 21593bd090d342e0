/**
 * A client that leaves while its answer is being relayed: the gateway drops the upstream connection
 * (it is mid-response and cannot be reused), at once, whatever the framing and however much was relayed,
 * and nothing counts against the upstream.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { gatewayConfig, service } from "./support";
import { startHost, type TestHost } from "../../../test/support/harness";
import { RawConn } from "../../../test/support/raw-http";

/** An upstream that sends a head and the first `sent` body bytes of a long answer, then nothing more (it never ends it itself). */
function stallingUpstream() {
  const state = { open: 0, closed: 0, framing: "length" as "length" | "chunked", sent: 0 };
  const listener = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open() { state.open++; },
      data(s: Socket<undefined>, d) {
        if (!d.toString("latin1").includes("\r\n\r\n")) return;
        const body = Buffer.alloc(state.sent, 120);
        if (state.framing === "length") s.write(Buffer.concat([Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 10000000\r\n\r\n"), body]));
        else s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${state.sent > 0 ? state.sent.toString(16) + "\r\n" : ""}`), body]));
      },
      close() { state.closed++; },
    },
  });
  return { state, url: `http://127.0.0.1:${listener.port}`, stop: () => listener.stop(true) };
}

const up = stallingUpstream();
let t: TestHost;
afterAll(async () => { await t?.stop(); up.stop(); });

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred()) { if (Date.now() > end) return false; await Bun.sleep(10); }
  return true;
}

test("a client leaving mid-answer closes the upstream connection at once: length or chunked, after the head or partway through the body", async () => {
  t = await startHost(gatewayConfig(`    services:\n${service("slow", "/slow", [up.url], "        health_check: { enabled: false }\n        timeout: 30s\n")}`), { only: ["gateway"] });
  const port = new URL(t.url("gateway")).port;
  for (const framing of ["length", "chunked"] as const) {
    for (const sent of [0, 1, 64 * 1024]) {
      up.state.framing = framing;
      up.state.sent = sent;
      const closedBefore = up.state.closed;
      const c = await RawConn.open(Number(port));
      await c.write("GET /slow/x HTTP/1.1\r\nhost: gw\r\n\r\n");
      await c.waitFor((b) => b.indexOf("\r\n\r\n") !== -1 && b.length >= b.indexOf("\r\n\r\n") + 4 + sent, 5000, `${framing} head and ${sent} body bytes`);
      expect(c.buf.toString("latin1", 0, 15)).toBe("HTTP/1.1 200 OK");
      c.terminate();
      // The upstream would send nothing more, so only the gateway can close it: within 2 s (the route's timeout is 30 s).
      expect(await until(() => up.state.closed > closedBefore, 2000), `${framing}, ${sent} body bytes relayed`).toBe(true);
    }
  }
  // Six clients left: none of it is the upstream's failure (no ejection, no failed attempt on its account).
  const metrics = await (await fetch(`${t.url("gateway")}/metrics`)).text();
  const slowLines = metrics.split("\n").filter((l) => l.includes('service="slow"'));
  expect(slowLines.length).toBeGreaterThan(0);
  const value = (name: string) => slowLines.find((l) => l.startsWith(`tradpal_gateway_${name}{`))?.split(" ").pop();
  expect(value("ejections_total")).toBe("0");
  expect(value("upstream_active_requests")).toBe("0");
  expect(value("upstream_available")).toBe("1");
}, 30_000);
