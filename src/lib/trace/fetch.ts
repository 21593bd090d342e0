/**
 * A server span around a plugin's whole request handler (security, breaker: their work is the request),
 * named "<plugin> <METHOD> <route shape>" where the shape keeps the first two path segments and stars the
 * rest (/tokens/validate, /circuit-breakers/trading/*), or stars everything after a `private` prefix
 * (/secrets/*: a secret's path is never recorded, its value never seen). Without a tracer the handler is
 * returned as is: no cost when tracing is off.
 */
import type { Tracer } from "./trace";

type Fetch = (req: Request) => Response | Promise<Response>;

export function routeShape(path: string, privatePrefixes: readonly string[] = []): string {
  for (const p of privatePrefixes) if (path.startsWith(p)) return p + "*";
  const parts = path.split("/");
  return parts.length <= 3 ? path : parts.slice(0, 3).join("/") + "/*";
}

export function traceRequests<F extends Fetch>(tracer: Tracer | undefined, plugin: string, handler: F, privatePrefixes: readonly string[] = []): F {
  if (tracer === undefined) return handler;
  return ((req: Request) => {
    const url = req.url;
    const start = url.indexOf("/", url.indexOf("//") + 2);
    const q = url.indexOf("?", start);
    const path = q === -1 ? url.slice(start) : url.slice(start, q);
    const shape = routeShape(path, privatePrefixes);
    const span = tracer.server(req, `${plugin} ${req.method} ${shape}`, { "http.request.method": req.method, "http.route": shape });
    const done = (res: Response) => { span.end({ "http.response.status_code": res.status }, res.status >= 500 ? `HTTP ${res.status}` : undefined); return res; };
    const fail = (err: unknown) => { span.end({}, err instanceof Error ? err.message : String(err)); throw err; };
    try {
      const r = handler(req);
      return r instanceof Promise ? r.then(done, fail) : done(r);
    } catch (err) {
      return fail(err);
    }
  }) as F;
}
