/** Helpers for the falco plugin's integration tests: a real receiver on port 0 that records what it gets. */
export interface Receiver {
  url: string;
  port: number;
  bodies: { path: string; body: any; at: number }[];
  /** Answer 503 (down) while true. */
  down: boolean;
  stop(): void;
}

export function startReceiver(port = 0): Receiver {
  const r: Receiver = {
    url: "", port: 0, bodies: [], down: false,
    stop() { server.stop(true); },
  };
  const server = Bun.serve({
    port, hostname: "127.0.0.1",
    async fetch(req) {
      const text = await req.text();
      if (r.down) return new Response("down", { status: 503 });
      let body: unknown = text;
      try { body = JSON.parse(text); } catch { /* keep text */ }
      r.bodies.push({ path: new URL(req.url).pathname, body, at: Date.now() });
      return new Response("ok");
    },
  });
  r.port = server.port!;
  r.url = `http://127.0.0.1:${server.port}`;
  return r;
}

export async function until(cond: () => boolean | Promise<boolean>, ms = 5000, step = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(step);
  }
}

export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json", ...headers } });

let n = 0;
export function alertOf(over: Record<string, unknown> = {}, fields: Record<string, unknown> = {}) {
  return {
    output: `alert ${++n}`, priority: "Warning", rule: "TradPal Shell In Trading Container", time: new Date().toISOString(),
    source: "syscall", hostname: "node-1", tags: ["tradpal", "shell"],
    output_fields: { "container.id": "abc123", "container.name": "trading_service", "user.name": "root", "proc.name": "bash", ...fields },
    ...over,
  };
}
