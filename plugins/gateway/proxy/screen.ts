/**
 * Stages 1–2 of the walk, screen and route: the limits a request must meet before anything else
 * (framing, header and body size, Connection naming a framing field), the path normalised once,
 * then the route table and the method. Either the matched route (with `call.path` now the
 * normalised path, the one routed and forwarded) or the refusal to answer.
 */
import type { HeaderView } from "../../../src/lib/http1/pair-headers";
import type { FramingProblem } from "../../../src/lib/http1/head";
import { RouteTable, METHOD_MISMATCH, hostOnly } from "./route-table";
import type { CompiledRoute } from "./compiled-route";
import { normalisePath } from "./path-normalise";
import { connectionNamesFraming } from "./forward-headers";
import type { Call, ProxyCore, Refusal } from "./pipeline";

/** RFC 9110 methods (and PATCH): a route that does not take one answers 405; any other method is 501. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/** Paths the gateway's admin app serves (/services...): never proxied. */
export function isAdminPath(path: string): boolean {
  return (path.startsWith("/services") && (path.length === 9 || path.charCodeAt(9) === 47)) || path === "/topology" || path === "/topology/view";
}

/** The path matched but the method did not: 405 with Allow for a method we know, 501 for one nobody lists (`get`, `FOO`). */
function methodRefusal(table: RouteTable<CompiledRoute>, method: string, path: string, host: string): Refusal {
  if (!KNOWN_METHODS.has(method) && !table.methods.has(method)) {
    return { code: "GW_ERR_METHOD_NOT_IMPLEMENTED", message: `the method "${method.slice(0, 32)}" is not implemented (methods are case-sensitive)` };
  }
  return { code: "GW_ERR_METHOD_NOT_ALLOWED", message: `${method} is not allowed at ${path}`, headers: { allow: table.allowedAt(path, host).join(", ") } };
}

/**
 * Limits, framing, the path (normalised once), then the route and method. `headerBytes` is the size
 * of the header section (undefined when the listener already enforces a stricter limit).
 */
export function screen(core: ProxyCore, call: Call, h: HeaderView, framing: FramingProblem | undefined, headerBytes: number | undefined): CompiledRoute | Refusal {
  const o = core.o;
  if (framing !== undefined) return { code: "GW_ERR_AMBIGUOUS_LENGTH", message: `refused: ${framing}`, headers: { connection: "close" } };
  if (headerBytes !== undefined && headerBytes > o.maxHeaderSize) return { code: "GW_ERR_HEADERS_TOO_LARGE", message: `request headers exceed ${o.maxHeaderSize} bytes`, headers: { connection: "close" } };
  const cl = h.get("content-length");
  if (cl !== null && Number(cl) > o.maxBodySize) return { code: "GW_ERR_BODY_TOO_LARGE", message: `request body exceeds ${o.maxBodySize} bytes`, headers: { connection: "close" } };
  const connection = h.get("connection");
  if (connection !== null) {
    const named = connectionNamesFraming(connection);
    if (named !== undefined) return { code: "GW_ERR_CONNECTION_NAMES_FRAMING", message: `Connection may not name ${named}: it decides how the request is framed or routed`, headers: { connection: "close" } };
  }
  const table = o.table;
  const host = table.hostRoutes ? hostOnly(h.get("host")) : "";
  const path = call.path;
  const method = call.method;
  let p = normalisePath(path, "reject");
  let route: CompiledRoute | typeof METHOD_MISMATCH | undefined;
  if (typeof p === "string") {
    route = table.match(p, host, method);
  } else {
    // Refused unless the route the path names says `path_escapes: keep` (refusal path: a second pass).
    const fault = p;
    const kept = fault.switchable ? normalisePath(path, "keep") : fault;
    if (typeof kept !== "string") return { code: "GW_ERR_BAD_PATH", message: kept.message };
    const r = table.match(kept, host, method);
    if (r === undefined || r === METHOD_MISMATCH || r.pathEscapes !== "keep") return { code: "GW_ERR_BAD_PATH", message: fault.message };
    // Bun's fetch() would resolve an encoded dot segment or a backslash itself: not the path that was routed.
    if (o.client.kind === "fetch" && /%2e|\\/i.test(kept)) return { code: "GW_ERR_BAD_PATH", message: `${fault.message} (upstream_client fetch cannot send it as sent)` };
    p = kept;
    route = r;
  }
  // "/api/../services", "//auth/login": the gateway's own paths are served at their canonical spelling only,
  // never forwarded upstream under another route (admin and edge paths are picked before screening).
  if (p !== path && (isAdminPath(p) || o.edgePaths.has(p))) return { code: "GW_ERR_BAD_PATH", message: `${p} is the gateway's own path: send it as is` };
  if (route === undefined) return { code: "GW_ERR_NO_ROUTE", message: `no service is routed at ${p}` };
  if (route === METHOD_MISMATCH) return methodRefusal(table, method, p, host);
  call.path = p;
  return route;
}
