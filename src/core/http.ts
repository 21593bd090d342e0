/**
 * Conventions every plugin's Elysia app shares: coded JSON errors (never a bare 500 or an HTML page),
 * a correlation id taken from X-Request-Id (or generated) and echoed, and W3C traceparent propagation.
 */
import { Elysia } from "elysia";
import { CodedError, jsonError } from "./errors";
import type { Logger } from "./log";

/**
 * REQUEST_ID_RE: the one acceptance rule for a caller's X-Request-Id. acceptRequestId: the caller's id
 * when acceptable, else the id of the request being handled (request-context.ts: the same one its log
 * lines carry), else a fresh random (version 4) UUID.
 */
export { REQUEST_ID_RE, acceptRequestId } from "./request-context";
import { acceptRequestId } from "./request-context";

/** The caller's X-Request-Id when it is sane, otherwise a fresh one. */
export function requestIdOf(req: Request): string {
  return acceptRequestId(req.headers.get("x-request-id"));
}

function validationWhere(error: any): { where?: string; details?: unknown } {
  try {
    const all = typeof error?.all === "object" ? error.all : undefined;
    if (Array.isArray(all) && all.length > 0) {
      const details = all.slice(0, 20).map((e: any) => ({ where: e.path || "/", message: e.summary ?? e.message }));
      return { where: details[0].where, details };
    }
  } catch { /* fall through */ }
  return {};
}

/** The codes Elysia's own failures map to: every plugin catalogue has them, as literals (one definition each). */
const CONVENTION_SUFFIXES = ["VALIDATION", "PARSE", "NOT_FOUND", "INTERNAL", "REQUEST"] as const;

/** A catalogue's convention codes (EV_ERR_VALIDATION ...); a catalogue without one is a programming error. */
export function conventionCodes(specs: Readonly<Record<string, unknown>>): Record<(typeof CONVENTION_SUFFIXES)[number], string> {
  const out = {} as Record<(typeof CONVENTION_SUFFIXES)[number], string>;
  for (const suffix of CONVENTION_SUFFIXES) {
    const code = Object.keys(specs).find((k) => k.endsWith(`_ERR_${suffix}`));
    if (code === undefined) throw new Error(`error catalogue ${Object.keys(specs)[0]?.split("_ERR_")[0] ?? "?"} lacks its *_ERR_${suffix} code`);
    out[suffix] = code;
  }
  return out;
}

/**
 * Shared Elysia conventions. `errors` is the plugin's catalogue (defineErrors): Elysia's validation,
 * parse, 404 and unhandled failures answer with its *_ERR_VALIDATION / _PARSE / _NOT_FOUND / _INTERNAL /
 * _REQUEST codes. Use with `.use(httpConventions({ errors, log }))` before the plugin's routes.
 */
export function httpConventions(opts: { errors: { specs: Readonly<Record<string, unknown>> }; log: Logger }) {
  const { log } = opts;
  const c = conventionCodes(opts.errors.specs);
  const prefix = c.VALIDATION.split("_ERR_")[0];
  return new Elysia({ name: `http-conventions:${prefix}` })
    .onRequest(({ request, set }) => {
      set.headers["x-request-id"] = requestIdOf(request);
    })
    .onError({ as: "global" }, ({ code, error, request, set }) => {
      const requestId = (set.headers["x-request-id"] as string | undefined) ?? requestIdOf(request);
      const headers = { "x-request-id": requestId };
      if (error instanceof CodedError) return error.toResponse(headers);
      switch (code) {
        case "VALIDATION": {
          const { where, details } = validationWhere(error);
          return jsonError(400, c.VALIDATION, "request failed validation", where, details, headers);
        }
        case "PARSE":
          return jsonError(400, c.PARSE, "request body could not be parsed", undefined, undefined, headers);
        case "NOT_FOUND":
          return jsonError(404, c.NOT_FOUND, `no route for ${request.method} ${new URL(request.url).pathname}`, undefined, undefined, headers);
        case "INVALID_COOKIE_SIGNATURE":
          return jsonError(400, c.REQUEST, "invalid cookie signature", undefined, undefined, headers);
        default: {
          const status = typeof (error as any)?.status === "number" && (error as any).status < 500 ? (error as any).status : 500;
          if (status >= 500) log.error("unhandled error", { err: error, requestId, path: new URL(request.url).pathname });
          return jsonError(status, status >= 500 ? c.INTERNAL : c.REQUEST, status >= 500 ? "internal error" : String((error as any)?.message ?? "bad request"), undefined, undefined, headers);
        }
      }
    })
    .as("global");
}
