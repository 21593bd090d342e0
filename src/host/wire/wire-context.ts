/**
 * A wire-lane request's context (request-context.ts: log lines written while it is handled carry its
 * ids), and at log level debug what it was and when it started, for the one line written when it ends.
 * One object per request for both the connection's ordinary exchange and a pipelined one.
 */
import type { RequestHead } from "../../lib/http1/head";
import type { Logger } from "../../core/log";
import { RequestContext, runInRequest } from "../../core/request-context";

export class WireRequestContext extends RequestContext {
  private debugStart = -1;
  private debugWhat = "";

  constructor(head: RequestHead, log: Logger) {
    super(head.headers);
    if (log.isEnabled("debug")) {
      const q = head.target.indexOf("?");
      this.debugStart = performance.now();
      this.debugWhat = head.method + " " + (q < 0 ? head.target : head.target.slice(0, q));
    }
  }

  /** The request is answered (`status`, 0 when unknown) or gone: its debug line, written in its context, then its end. */
  close(log: Logger, status: number): void {
    if (this.debugStart >= 0) {
      const fields = { lane: "wire", request: this.debugWhat, status: status || undefined, ms: Math.round((performance.now() - this.debugStart) * 100) / 100 };
      this.debugStart = -1;
      runInRequest(this, (l, f) => l.debug("request", f), log, fields);
    }
    this.end();
  }
}
