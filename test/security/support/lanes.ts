/**
 * The gateway's lanes for the attack suite, all in front of one logging origin: the wire lane with
 * the pooled client, the wire lane with upstream_client fetch, and the fetch lane proper (proxy/fetch-lane.ts:
 * with upstream_client fetch the wire lane declines HTTP/1.0 and bodies sent after their head; with the
 * pooled client it takes those too, issue #17). Each lane's prefix reaches the origin.
 */
import { RawConn, type RawResponse } from "../../support/raw-http";
import { startGateway, service } from "../../../plugins/gateway/test/support";
import type { TestHost } from "../../support/harness";
import type { LoggingOrigin } from "./logging-origin";

export interface Lane {
  name: string;
  port: number;
  /** A path prefix routed to the origin on this lane (strip_prefix off: the origin sees it). */
  prefix: string;
  /**
   * The fetch lane: a body is sent after its head (a streamed upload) and a bodiless request as HTTP/1.0,
   * on the upstream_client fetch gateway, whose wire lane leaves both to Bun.serve: proxy/fetch-lane.ts screens it.
   */
  slow: boolean;
}

/** The bytes of one request as this lane needs them sent (see Lane.slow): written in order, a pause between. */
export function shaped(lane: Lane, head: string, body = ""): string[] {
  if (!lane.slow) return [head + body];
  if (body.length > 0) return [head, body];
  return [head.replace(/^([^\r]*) HTTP\/1\.1\r\n/, "$1 HTTP/1.0\r\n")];
}

export interface Lanes {
  lanes: Lane[];
  hosts: TestHost[];
  stop(): Promise<void>;
}

const QUIET = "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n";

/** `extra` is YAML added to every service block (8 spaces), e.g. a methods list. */
export async function startLanes(origin: LoggingOrigin, extra = "", more = ""): Promise<Lanes> {
  const services = (client: string) => `    upstream_client: ${client}\n    services:\n`
    + service("wire", "/api", [origin.url], QUIET + extra)
    + service("slow", "/fl", [origin.url], QUIET + "        bulkhead: { max_concurrent: 64 }\n" + extra) + more;
  const pooled = await startGateway(services("pooled"));
  const fetched = await startGateway(services("fetch"));
  const port = (t: TestHost) => Number(new URL(t.url("gateway")).port);
  return {
    lanes: [
      { name: "wire lane, pooled client", port: port(pooled), prefix: "/api", slow: false },
      { name: "wire lane, fetch client", port: port(fetched), prefix: "/api", slow: false },
      { name: "fetch lane (proxy/fetch-lane.ts)", port: port(fetched), prefix: "/fl", slow: true },
    ],
    hosts: [pooled, fetched],
    async stop() { await pooled.stop(); await fetched.stop(); },
  };
}

export interface Exchange {
  responses: RawResponse[];
  /** The gateway closed the connection after them. */
  closed: boolean;
}

/**
 * Send raw bytes on a fresh connection and read up to `reads` responses (fewer if the gateway
 * closes); then wait `settleMs` so anything smuggled has time to reach the origin.
 */
export async function exchange(port: number, bytes: string | Uint8Array | (string | Uint8Array)[], reads = 1, settleMs = 150, method = "GET"): Promise<Exchange> {
  const c = await RawConn.open(port);
  const responses: RawResponse[] = [];
  const parts = Array.isArray(bytes) ? bytes : [bytes];
  try {
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) await Bun.sleep(60);
      await c.write(parts[i]);
    }
    for (let i = 0; i < reads; i++) {
      try { responses.push(await c.read({ timeoutMs: 3000, method })); } catch { break; }
    }
    const closed = await c.waitClosed(settleMs);
    return { responses, closed };
  } finally {
    c.terminate();
  }
}

/** The coded error of a gateway/host answer, or "" when the body is not one. */
export function codeOf(r: RawResponse | undefined): string {
  if (r === undefined) return "<no response>";
  try { return (JSON.parse(r.body.toString()) as { error?: { code?: string } }).error?.code ?? ""; } catch { return ""; }
}

/** What reached the origin that no allow() predicate covers, and what it could not frame. */
export function leaks(origin: LoggingOrigin): string[] {
  return [
    ...origin.unexpected().map((r) => `${r.method} ${r.target}`),
    ...origin.garbage.map((g) => `garbage: ${JSON.stringify(g.bytes.slice(0, 80))}`),
  ];
}
