/**
 * Coded errors. Every error a client can see is `{ error: { code, message, where? } }` with a
 * status from the catalogue, so a client can branch on `code` and an operator can grep for it.
 */

export interface ErrorSpec {
  status: number;
  message: string;
}

export interface ErrorBody {
  error: { code: string; message: string; where?: string; details?: unknown };
}

export class CodedError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly where?: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "CodedError";
  }
  toBody(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message };
    if (this.where !== undefined) error.where = this.where;
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
  toResponse(extraHeaders?: Record<string, string>): Response {
    return jsonError(this.status, this.code, this.message, this.where, this.details, { ...this.headers, ...extraHeaders });
  }
}

/** A catalogue: `const E = defineErrors({ GW_ERR_X: { status: 504, message: "..." } })`, then `throw E.GW_ERR_X()`. */
export function defineErrors<K extends string>(specs: Record<K, ErrorSpec>) {
  type Make = (message?: string, where?: string, details?: unknown, headers?: Record<string, string>) => CodedError;
  const makers = {} as Record<K, Make>;
  for (const code of Object.keys(specs) as K[]) {
    const spec = specs[code];
    makers[code] = (message, where, details, headers) => new CodedError(code, spec.status, message ?? spec.message, where, details, headers);
  }
  return Object.assign(makers, { specs });
}

export function jsonError(status: number, code: string, message: string, where?: string, details?: unknown, headers?: Record<string, string>): Response {
  const error: ErrorBody["error"] = { code, message };
  if (where !== undefined) error.where = where;
  if (details !== undefined) error.details = details;
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export const HostErrors = defineErrors({
  HOST_ERR_NOT_FOUND: { status: 404, message: "no route for this method and path" },
  HOST_ERR_BAD_REQUEST: { status: 400, message: "the request is not valid HTTP/1.1" },
  HOST_ERR_HEADERS_TOO_LARGE: { status: 431, message: "the request head is too large" },
  HOST_ERR_REQUEST_TIMEOUT: { status: 408, message: "the request head did not arrive in time" },
  HOST_ERR_METHOD_NOT_IMPLEMENTED: { status: 501, message: "the method is not implemented" },
  HOST_ERR_INTERNAL: { status: 500, message: "internal error" },
  HOST_ERR_UNAUTHORIZED: { status: 401, message: "the platform admin token is required" },
  HOST_ERR_SHUTTING_DOWN: { status: 503, message: "server is shutting down" },
});
