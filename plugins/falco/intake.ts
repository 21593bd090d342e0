/**
 * The intake hot path, outside Elysia's router: POST / and POST /falco/alerts (falcosidekick's input
 * contract, so Falco's http_output.url works unchanged), and POST /test. Bounded body, optional shared
 * secret, all-or-nothing batches, coded JSON errors; never waits on an output.
 */
import { CodedError } from "../../src/core/errors";
import { acceptRequestId } from "../../src/core/http";
import type { Logger } from "../../src/core/log";
import { sameSecret } from "./admin";
import { parseAlerts, validateAlert } from "./alert";
import { FalcoErrors } from "./errors";
import type { FalcoMetrics } from "./metrics";
import type { Pipeline } from "./pipeline";
import type { FalcoConfig } from "./schema";
import { endIntake, intakeSpan } from "./spans";
import type { HeaderView } from "../../src/core/request-context";
import type { TraceContext, Tracer } from "../../src/lib/trace/trace";

/** Read at most `max` bytes of the body; a larger one is refused before (Content-Length) or while reading. */
export async function readBounded(req: Request, max: number): Promise<string> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > max) throw FalcoErrors.FALCO_ERR_BODY_TOO_LARGE(`body of ${declared} bytes; at most ${max}`, "/");
  if (!req.body) return "";
  // A declared length was checked above and the server enforces it (and the port's 16mb limit):
  // req.text() is Bun's native read, three times faster than arrayBuffer + TextDecoder.
  if (declared !== null) return req.text();
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) { void reader.cancel().catch(() => undefined); throw FalcoErrors.FALCO_ERR_BODY_TOO_LARGE(`body over ${max} bytes`, "/"); }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * Falco posts application/json with json_output, text/plain without it; curl -d (falcosidekick's README
 * example) sends form-urlencoded. Like falcosidekick, any type is parsed as JSON except the two that
 * cannot hold it, which get a hint instead of a parse error.
 */
const NOT_JSON_TYPE = /^\s*(text\/plain|multipart\/)/i;

/** One intake answer, lane-neutral: the fetch lane makes a Response of it, the wire lane bytes. */
export interface IntakeAnswer { status: number; body: string }

export function createIntake(cfg: FalcoConfig, pipeline: Pipeline, metrics: FalcoMetrics, log: Logger, tracer?: Tracer) {
  const limits = { maxOutputLength: cfg.intake.max_output_length, maxFields: cfg.intake.max_fields, maxBatch: cfg.intake.max_batch };
  const secret = cfg.intake.shared_secret;
  const maxBody = cfg.intake.max_body_size;

  /** The secret from X-Falco-Token, else from ?token= of the request target. */
  function authorise(header: string | null, target: string): void {
    if (!secret) return;
    let given = header;
    if (given === null) {
      const q = target.indexOf("?");
      if (q >= 0) given = new URLSearchParams(target.slice(q + 1)).get("token");
    }
    if (!sameSecret(given, secret)) throw FalcoErrors.FALCO_ERR_UNAUTHORIZED();
  }

  function checkType(type: string | null): void {
    if (type !== null && NOT_JSON_TYPE.test(type)) throw FalcoErrors.FALCO_ERR_UNSUPPORTED_MEDIA_TYPE(`content-type ${type.slice(0, 80)}: send JSON (Falco: json_output: true)`, "/headers/content-type");
  }

  function failure(err: unknown): IntakeAnswer {
    if (err instanceof CodedError) { metrics.request(err.code); return { status: err.status, body: JSON.stringify(err.toBody()) }; }
    log.error("falco intake failed", { err });
    metrics.request("FALCO_ERR_INTERNAL");
    return { status: 500, body: '{"error":{"code":"FALCO_ERR_INTERNAL","message":"internal error"}}' };
  }

  function ingestText(text: string, trace: TraceContext | undefined): IntakeAnswer {
    const batch = parseAlerts(text, limits);
    pipeline.ingest(batch, Date.now(), trace);
    metrics.request("accepted");
    return { status: 200, body: `{"accepted":${batch.length}}` };
  }

  const respond = (a: IntakeAnswer, requestId: string) => new Response(a.body, { status: a.status, headers: { "content-type": "application/json", "x-request-id": requestId } });

  /** POST / and POST /falco/alerts (fetch lane). */
  async function alerts(req: Request): Promise<Response> {
    const requestId = acceptRequestId(req.headers.get("x-request-id"));
    const span = intakeSpan(tracer, req.headers, pathOf(req.url), "fetch");
    let a: IntakeAnswer;
    try {
      authorise(req.headers.get("x-falco-token"), req.url);
      checkType(req.headers.get("content-type"));
      a = ingestText(await readBounded(req, maxBody), span?.child);
    } catch (err) {
      a = failure(err);
    }
    endIntake(span, a.status, a.body);
    return respond(a, requestId);
  }

  /** The same for a request whose whole body is in hand (wire lane); synchronous. */
  function alertsWhole(target: string, headers: HeaderView, body: Uint8Array | null, length: number): IntakeAnswer {
    const q = target.indexOf("?");
    const span = intakeSpan(tracer, headers, q < 0 ? target : target.slice(0, q), "wire");
    let a: IntakeAnswer;
    try {
      authorise(headers.get("x-falco-token"), target);
      checkType(headers.get("content-type"));
      if (length > maxBody) throw FalcoErrors.FALCO_ERR_BODY_TOO_LARGE(`body of ${length} bytes; at most ${maxBody}`, "/");
      a = ingestText(body === null ? "" : DECODER.decode(body), span?.child);
    } catch (err) {
      a = failure(err);
    }
    endIntake(span, a.status, a.body);
    return a;
  }

  /** POST /test: falcosidekick's test alert (Debug, "Test rule"), sent to every output. */
  function test(req: Request): Response {
    const requestId = acceptRequestId(req.headers.get("x-request-id"));
    const span = intakeSpan(tracer, req.headers, "/test", "fetch");
    const answer = (a: IntakeAnswer) => { endIntake(span, a.status, a.body); return respond(a, requestId); };
    try {
      authorise(req.headers.get("x-falco-token"), req.url);
      const problems: { where: string; message: string }[] = [];
      const a = validateAlert({ output: "This is a test from the tradpal falco plugin", priority: "Debug", hostname: "tradpal-falco", rule: "Test rule", time: new Date().toISOString(), source: "internal", output_fields: { "proc.name": "tradpal-falco", "user.name": "tradpal-falco" }, tags: ["test", "example"] }, "", limits, problems)!;
      if (span !== undefined && span.child.sampled) a.trace = span.child;
      const n = pipeline.test(a);
      metrics.request("accepted");
      return answer({ status: 200, body: JSON.stringify({ accepted: 1, group: n.group }) });
    } catch (err) {
      return answer(failure(err));
    }
  }

  return { alerts, alertsWhole, test };
}

const DECODER = new TextDecoder();

function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}
