/**
 * The reload proof (issue 19), shared by the test (test/reload-proof.test.ts) and the benchmark
 * (bench/reload.bench.ts): HTTP load, WebSockets and SSE streams through a gateway, every message
 * sequence-numbered both ways, while the config file is rewritten again and again — other routes changed,
 * the routes in use changed, the port moved, invalid files. Counts failed requests, unexpected closes,
 * lost and reordered messages.
 */
import type { Server } from "bun";
import { gatewayConfig, service, startGateway } from "../../plugins/gateway/test/support";
import { freePort } from "./harness";

export interface ProofCounts {
  requests: number;
  failedRequests: number;
  wsMessages: number;
  sseMessages: number;
  lost: number;
  reordered: number;
  unexpectedCloses: number;
  reloads: { ok: number; refused: number };
  /** Failed requests by status (-1: no answer). */
  failures: Record<string, number>;
}

/** An upstream: /ws echoes `seq` as `ack:seq`; /sse streams `id: n` every `everyMs`; anything else 200. */
export function proofUpstream(everyMs = 20): Server<undefined> {
  return Bun.serve({
    port: 0, hostname: "127.0.0.1", idleTimeout: 0,
    fetch(req, server) {
      const path = new URL(req.url).pathname;
      if (path.endsWith("/ws") && server.upgrade(req, { data: undefined })) return undefined as unknown as Response;
      if (path.endsWith("/sse")) {
        let n = 0;
        let timer: Timer;
        const stream = new ReadableStream<Uint8Array>({
          start(c) { timer = setInterval(() => { try { c.enqueue(new TextEncoder().encode(`id: ${n}\ndata: ${n++}\n\n`)); } catch { clearInterval(timer); } }, everyMs); },
          cancel() { clearInterval(timer); },
        });
        return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-store" } });
      }
      return new Response("ok");
    },
    websocket: { message(ws, m) { ws.send(`ack:${m}`); } },
  });
}

/** A WebSocket that sends a sequence number every `everyMs` and checks the echoes come back in order. */
function wsClient(url: string, everyMs: number, c: ProofCounts): { stop(): Promise<void> } {
  const ws = new WebSocket(url);
  let sent = 0;
  let expect = 0;
  let stopping = false;
  let timer: Timer | undefined;
  ws.onopen = () => { timer = setInterval(() => ws.send(String(sent++)), everyMs); };
  ws.onmessage = (e) => {
    const n = Number(String(e.data).slice(4));
    c.wsMessages++;
    if (n !== expect) { if (n > expect) c.lost += n - expect; else c.reordered++; }
    expect = Math.max(expect, n + 1);
  };
  const closed = new Promise<void>((r) => { ws.onclose = () => { clearInterval(timer); if (!stopping) c.unexpectedCloses++; r(); }; });
  return {
    async stop() {
      stopping = true;
      clearInterval(timer);
      await Bun.sleep(everyMs * 3); // the last echoes
      c.lost += Math.max(0, sent - expect);
      ws.close(1000);
      await closed;
    },
  };
}

/** An SSE reader that checks ids arrive consecutively. */
function sseClient(url: string, c: ProofCounts): { stop(): Promise<void> } {
  const ac = new AbortController();
  let stopping = false;
  const done = (async () => {
    let next = 0;
    let buf = "";
    try {
      const res = await fetch(url, { signal: ac.signal });
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        buf += new TextDecoder().decode(value);
        let i;
        while ((i = buf.indexOf("\n\n")) !== -1) {
          const n = Number(/^id: (\d+)/m.exec(buf.slice(0, i))?.[1]);
          buf = buf.slice(i + 2);
          c.sseMessages++;
          if (n !== next) { if (n > next) c.lost += n - next; else c.reordered++; }
          next = Math.max(next, n + 1);
        }
      }
      if (!stopping) c.unexpectedCloses++;
    } catch { if (!stopping) c.unexpectedCloses++; }
  })();
  return { async stop() { stopping = true; ac.abort(); await done; } };
}

export interface ProofOptions {
  /** The gateway's current base URL (http://host:port), read at each new connection (the port moves). */
  base(): string;
  ws: number;
  sse: number;
  httpConcurrency: number;
  /** Each rewrite: returns whether the host accepted it (false for the invalid files). */
  rewrites: (() => Promise<boolean>)[];
  rewriteEveryMs: number;
}

export async function runProof(o: ProofOptions): Promise<ProofCounts> {
  const c: ProofCounts = { requests: 0, failedRequests: 0, wsMessages: 0, sseMessages: 0, lost: 0, reordered: 0, unexpectedCloses: 0, reloads: { ok: 0, refused: 0 }, failures: {} };
  const start = o.base();
  const streams = [
    ...Array.from({ length: o.ws }, () => wsClient(`${start.replace("http", "ws")}/live/ws`, 50, c)),
    ...Array.from({ length: o.sse }, () => sseClient(`${start}/live/sse`, c)),
  ];
  let running = true;
  const http = Array.from({ length: o.httpConcurrency }, async () => {
    while (running) {
      c.requests++;
      const status = await fetch(`${o.base()}/live/x`).then(async (r) => { await r.arrayBuffer(); return r.status; }, () => -1);
      if (status !== 200) { c.failedRequests++; c.failures[status] = (c.failures[status] ?? 0) + 1; }
    }
  });
  for (const rewrite of o.rewrites) {
    await Bun.sleep(o.rewriteEveryMs);
    if (await rewrite()) c.reloads.ok++;
    else c.reloads.refused++;
  }
  await Bun.sleep(o.rewriteEveryMs);
  running = false;
  await Promise.all(http);
  await Promise.all(streams.map((s) => s.stop()));
  return c;
}

/** One rewrite of the plan: the file's text, the port it moves the gateway to (if it does), whether it is valid. */
export interface PlannedRewrite { text: string; moved?: number; valid: boolean }

/**
 * `count` rewrites of a gateway config with the route in use (/live) and 0–4 others: every rewrite changes
 * something — the other routes, the live route's timeout and response header — every 5th is invalid (a bad
 * duration, a non-mapping, a duplicate name, in turn), every 6th moves the port.
 */
export function proofPlan(count: number, upstreamPort: number): PlannedRewrite[] {
  const hostExtra = "  drain_timeout: 10m\n  upgrade_grace: 10m\n  port_linger: 1s\n";
  const hc = "        health_check: { enabled: false }\n";
  const url = `http://127.0.0.1:${upstreamPort}`;
  const live = (timeout: number, gen: number) => service("live", "/live", [url], `${hc}        timeout: ${timeout}s\n        transform: { response_headers: { set: { x-gen: "g${gen}" } } }\n`);
  const text = (port: number, i: number) => gatewayConfig(`    services:\n${live(15 + (i % 4) * 5, i)}${Array.from({ length: i % 5 }, (_, k) => service(`other${k}`, `/other${k}`, [url], hc)).join("")}`, hostExtra).replace("    port: 0\n", `    port: ${port}\n`);
  let port = freePort();
  const out: PlannedRewrite[] = [{ text: text(port, 0), moved: port, valid: true }];
  for (let i = 1; i < count; i++) {
    if (i % 5 === 4) {
      const bad = [(t: string) => t.replace(/timeout: \d+s/, "timeout: soon"), () => "plugins: [not, a, mapping]\n", (t: string) => t.replace("name: live", "name: other0").replace("path_prefix: /live", "path_prefix: /live2") + ""][(i / 5) % 3 | 0];
      out.push({ text: bad(text(port, i)), valid: false });
      continue;
    }
    if (i % 6 === 5) { port = freePort(); out.push({ text: text(port, i), moved: port, valid: true }); continue; }
    out.push({ text: text(port, i), valid: true });
  }
  return out;
}

/**
 * Start a gateway in this process and run the proof over `plan`. Clients move to a new port as soon as it
 * serves (within port_linger, while the old one still accepts), as a client told of the move would.
 */
export async function proveReloads(plan: PlannedRewrite[], o: Omit<ProofOptions, "base" | "rewrites">, upstreamPort: number): Promise<{ counts: ProofCounts; lastGen: string | null }> {
  const gw = await startGateway(`    services:\n${service("live", "/live", [`http://127.0.0.1:${upstreamPort}`], "        health_check: { enabled: false }\n")}`);
  try {
    let base = gw.url("gateway");
    const rewrites = plan.map((p) => async () => {
      let done = false;
      const follow = (async () => {
        while (!done) {
          if (p.moved !== undefined && gw.host.address("gateway")?.port === p.moved) { base = `http://127.0.0.1:${p.moved}`; return; }
          await Bun.sleep(5);
        }
      })();
      const r = await gw.rewrite(p.text);
      done = true;
      await follow;
      if (r.ok && p.moved !== undefined) base = `http://127.0.0.1:${p.moved}`;
      return r.ok;
    });
    const counts = await runProof({ ...o, base: () => base, rewrites });
    const lastGen = (await fetch(`${base}/live/x`)).headers.get("x-gen");
    return { counts, lastGen };
  } finally {
    await gw.stop();
  }
}
