import { describe, expect, test } from "bun:test";
import { acceptRequestId, currentRequest, noteMintedTrace, noteSpan, outsideRequest, RequestContext, runInRequest } from "./request-context";
import { createLogger } from "./log";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const headers = (h: Record<string, string>) => new Headers(h);
function capture() {
  const lines: Record<string, any>[] = [];
  return { lines, log: createLogger({ level: "debug", sink: (l) => lines.push(JSON.parse(l)) }) };
}

describe("request context in log lines", () => {
  test("a line written while a request runs carries its request id and trace id, through awaits and timers", async () => {
    const { lines, log } = capture();
    const ctx = new RequestContext(headers({ "x-request-id": "req-1", traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }));
    await runInRequest(ctx, async () => {
      log.info("sync");
      await Bun.sleep(1);
      log.child({ part: "x" }).warn("after await");
      await new Promise<void>((r) => setTimeout(() => { log.info("in timer"); r(); }, 1));
    }, undefined, undefined);
    log.info("outside");
    expect(lines.map((l) => [l.msg, l.request_id, l.trace_id])).toEqual([
      ["sync", "req-1", TRACE], ["after await", "req-1", TRACE], ["in timer", "req-1", TRACE], ["outside", undefined, undefined],
    ]);
    expect(lines[0].span_id).toBeUndefined(); // the caller's span is not ours
  });

  test("a span noted for the request names it; a minted request id is the one acceptRequestId gives", () => {
    const { lines, log } = capture();
    const ctx = new RequestContext(headers({ "x-request-id": "bad id with spaces" }));
    const id = runInRequest(ctx, () => {
      noteSpan(TRACE, "a1b2c3d4e5f60718");
      log.info("x");
      return acceptRequestId("bad id with spaces");
    }, undefined, undefined);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(lines[0]).toMatchObject({ request_id: id, trace_id: TRACE, span_id: "a1b2c3d4e5f60718" });
    expect(acceptRequestId("bad id")).not.toBe(id); // outside the request: a fresh one
  });

  test("a trace minted for the request names its lines; a span noted later wins", () => {
    const { lines, log } = capture();
    const ctx = new RequestContext(headers({ "x-request-id": "req-m", traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }));
    const minted = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    runInRequest(ctx, () => { noteMintedTrace(minted); log.info("minted"); }, undefined, undefined);
    expect(lines[0]).toMatchObject({ request_id: "req-m", trace_id: "0af7651916cd43dd8448eb211c80319c" });
    const ctx2 = new RequestContext(headers({}));
    runInRequest(ctx2, () => { noteMintedTrace(minted); noteSpan(TRACE, "a1b2c3d4e5f60718"); log.info("span"); }, undefined, undefined);
    expect(lines[1]).toMatchObject({ trace_id: TRACE, span_id: "a1b2c3d4e5f60718" });
    noteMintedTrace(minted); // outside any request: nothing to note, no throw
  });

  test("the line's own fields win; an undefined field leaves the context's", () => {
    const { lines, log } = capture();
    const ctx = new RequestContext(headers({ "x-request-id": "req-2", traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }));
    runInRequest(ctx, () => { log.info("own", { request_id: "other", trace_id: undefined }); }, undefined, undefined);
    expect(lines[0]).toMatchObject({ request_id: "other", trace_id: TRACE });
  });

  test("after its end a context is ignored (a timer created during the request logs without ids)", async () => {
    const { lines, log } = capture();
    const ctx = new RequestContext(headers({ "x-request-id": "req-3" }));
    let later!: Promise<void>;
    runInRequest(ctx, () => { later = new Promise((r) => setTimeout(() => { log.info("late"); r(); }, 5)); }, undefined, undefined);
    ctx.end();
    await later;
    expect(lines[0].request_id).toBeUndefined();
  });

  test("outsideRequest: work started there carries no request", async () => {
    const ctx = new RequestContext(headers({}));
    const seen = await runInRequest(ctx, () => outsideRequest(() => Promise.resolve().then(() => currentRequest())), undefined, undefined);
    expect(seen).toBeUndefined();
    expect(runInRequest(ctx, () => currentRequest(), undefined, undefined)).toBe(ctx);
  });

  test("a malformed or all-zero traceparent gives no trace id", () => {
    expect(new RequestContext(headers({ traceparent: "00-xyz-00f067aa0ba902b7-01" })).trace()).toBeUndefined();
    expect(new RequestContext(headers({ traceparent: `00-${"0".repeat(32)}-00f067aa0ba902b7-01` })).trace()).toBeUndefined();
  });
});
