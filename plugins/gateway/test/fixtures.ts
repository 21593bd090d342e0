/** Test fixtures for the gateway suites: real upstream servers on port 0 and a gateway host. */
import { startHost, type TestHost } from "../../../test/support/harness";

export interface Upstream {
  url: string;
  port: number;
  /** Requests seen (method, path+query, headers). */
  seen: { method: string; path: string; headers: Headers }[];
  hits: number;
  stop(): void;
}

export type UpstreamHandler = (req: Request, self: Upstream) => Response | Promise<Response>;

/** A real Bun.serve upstream on port 0 that records what reached it. */
export function startUpstream(handler?: UpstreamHandler, opts: { record?: boolean; maxRequestBodySize?: number } = {}): Upstream {
  const self: Upstream = { url: "", port: 0, seen: [], hits: 0, stop: () => {} };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    maxRequestBodySize: opts.maxRequestBodySize ?? 1024 ** 3,
    fetch(req) {
      self.hits++;
      if (opts.record !== false) {
        const u = new URL(req.url);
        self.seen.push({ method: req.method, path: u.pathname + u.search, headers: req.headers });
      }
      if (handler) return handler(req, self);
      return Response.json({ ok: true, port: self.port, path: new URL(req.url).pathname });
    },
  });
  self.port = server.port!;
  self.url = `http://127.0.0.1:${server.port}`;
  self.stop = () => server.stop(true);
  return self;
}

/** Start a host running only the gateway with the given `plugins.gateway` YAML body (indented 4 spaces). */
export async function startGateway(gatewayYaml: string, env: Record<string, string | undefined> = {}): Promise<TestHost> {
  return startHost(gatewayConfig(gatewayYaml), { env, only: ["gateway"] });
}

export function gatewayConfig(gatewayYaml: string, hostExtra = ""): string {
  return `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\n${hostExtra}plugins:\n  gateway:\n    port: 0\n${gatewayYaml}\n`;
}
