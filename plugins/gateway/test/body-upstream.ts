/**
 * A raw upstream for request-body tests (Bun.listen, port 0): it records every request's head and body
 * exactly as the gateway framed it (the wire bytes, and the data with the framing removed by the
 * platform's own framer), then acts as `mode` says: echo what it got, answer 413 before reading the
 * body, close mid-body, read slowly, or hold the answer.
 */
import type { Socket } from "bun";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../../../src/lib/http1/framer";
import { sha256 } from "../../../test/support/raw-http";

export interface Received {
  head: string;
  path: string;
  /** Body data (framing removed). */
  body: Buffer;
  /** Body bytes as they came on the wire (chunk sizes included). */
  wire: Buffer;
}

export type Mode = "echo" | "early413" | "close-mid" | "slow" | "hold" | "drop";

export interface BodyUpstream {
  port: number;
  url: string;
  /** Complete requests, in order. */
  got: Received[];
  /** Requests whose head arrived (complete or not). */
  heads: string[];
  /** Most requests in progress at once. */
  maxConcurrent: number;
  /** Body bytes received so far, all connections. */
  bodyBytes: number;
  stop(): void;
}

interface ConnState { buf: Buffer; head: string | null; path: string; framer: BodyFramer; parts: Buffer[]; wire: Buffer[]; taken: number; busy: boolean; counted: boolean }

/** `modeOf(path)` picks the behaviour per request (path after strip_prefix). `holdMs`: how long "hold" waits; `slowMs`: how long "slow" stops reading after each read. */
export function bodyUpstream(modeOf: (path: string) => Mode = () => "echo", holdMs = 300, slowMs = 15): BodyUpstream {
  let current = 0;
  const self: BodyUpstream = { port: 0, url: "", got: [], heads: [], maxConcurrent: 0, bodyBytes: 0, stop: () => {} };
  const answer = (s: Socket<ConnState>, r: Received) => {
    const te = /\r\ntransfer-encoding: *([^\r]*)/i.exec(r.head)?.[1] ?? null;
    const cl = /\r\ncontent-length: *([^\r]*)/i.exec(r.head)?.[1] ?? null;
    const expect = /\r\nexpect:/i.test(r.head);
    const json = JSON.stringify({ len: r.body.length, sha: sha256(r.body), te, cl, expect, wire: r.wire.length <= 4096 ? r.wire.toString("latin1") : null });
    s.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
  };
  const over = (st: ConnState) => { if (st.counted) { st.counted = false; current--; } };
  const step = (s: Socket<ConnState>) => {
    const st = s.data;
    for (;;) {
      if (st.head === null) {
        const end = st.buf.indexOf("\r\n\r\n");
        if (end === -1) return;
        st.head = st.buf.toString("latin1", 0, end);
        st.path = st.head.split(" ")[1].split("?")[0];
        self.heads.push(st.head);
        current++;
        st.counted = true;
        self.maxConcurrent = Math.max(self.maxConcurrent, current);
        const chunked = /\r\ntransfer-encoding: *chunked/i.test(st.head);
        const cl = Number(/\r\ncontent-length: *(\d+)/i.exec(st.head)?.[1] ?? 0);
        st.framer = chunked ? new BodyFramer().chunked() : new BodyFramer().length(cl);
        st.parts = [];
        st.wire = [];
        st.taken = 0;
        st.buf = st.buf.subarray(end + 4);
        if (modeOf(st.path) === "early413") {
          s.write("HTTP/1.1 413 Payload Too Large\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntoo big!");
          s.end();
          st.busy = true; // the rest is never read
          over(st);
          return;
        }
      }
      const b = st.buf;
      const end = st.framer.advance(b, 0, b.length, (f, t) => { st.parts.push(Buffer.from(b.subarray(f, t))); st.taken += t - f; });
      if (end === FRAMER_ERROR) { s.terminate(); return; }
      const upto = end === FRAMER_MORE ? b.length : end;
      st.wire.push(Buffer.from(b.subarray(0, upto)));
      self.bodyBytes += upto;
      st.buf = b.subarray(upto);
      const mode = modeOf(st.path);
      if (mode === "close-mid" && st.taken >= 64 * 1024) { over(st); s.terminate(); return; }
      if (end === FRAMER_MORE) return;
      const r: Received = { head: st.head, path: st.path, body: Buffer.concat(st.parts), wire: Buffer.concat(st.wire) };
      self.got.push(r);
      st.head = null;
      if (mode === "drop") { over(st); s.terminate(); return; }
      if (mode === "hold") { st.busy = true; setTimeout(() => { over(st); st.busy = false; answer(s, r); step(s); }, holdMs); return; }
      over(st);
      answer(s, r);
    }
  };
  const listener = Bun.listen<ConnState>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      binaryType: "buffer",
      open(s) { s.data = { buf: Buffer.alloc(0), head: null, path: "", framer: new BodyFramer(), parts: [], wire: [], taken: 0, busy: false, counted: false }; },
      data(s, d) {
        const st = s.data;
        st.buf = st.buf.length === 0 ? (d as Buffer) : Buffer.concat([st.buf, d as Buffer]);
        if (st.head !== null && modeOf(st.path) === "slow") {
          // A slow reader: take this read, then nothing for a while (the gateway's writes back up).
          s.pause();
          setTimeout(() => s.resume(), slowMs);
        }
        if (!st.busy) step(s);
      },
      close(s) { over(s.data); },
    },
  });
  self.port = listener.port;
  self.url = `http://127.0.0.1:${listener.port}`;
  self.stop = () => listener.stop(true);
  return self;
}
