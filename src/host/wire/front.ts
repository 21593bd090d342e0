/**
 * The front listener of a wire port (plugin `serve.wire`): Bun.listen, one FrontConn (front-conn.ts) per
 * connection, plain or with TLS (platform mTLS: each client certificate admitted live at the handshake).
 * Also what the listener does across connections: the head-timeout sweep, certificate renewal, the
 * retirement of upgraded connections, and stopping.
 */
import type { Socket, TCPSocketListener } from "bun";
import { WS_GOING_AWAY } from "../../lib/http1/ws-frames";
import { FrontConn } from "./front-conn";
import type { FrontOptions } from "./front-options";
import { holdRead, inTurn, releaseRead } from "../../lib/turn-queue";

export { HEAD_TIMEOUT_MS, MAX_HEAD_BYTES, type FrontOptions } from "./front-options";

export interface Front {
  listener: TCPSocketListener<FrontConn>;
  port: number;
  /**
   * TLS: serve new connections with other certificates (the host's renewed one) without dropping any: a
   * second listener on the port (SO_REUSEPORT) takes new connections, the old one stops accepting, and
   * the connections it accepted carry on. Bun.listen cannot change a listening socket's TLS context.
   */
  retls(tls: Bun.TLSOptions): void;
  /** force false: stop accepting, close idle connections, let busy ones finish; true: drop everything. */
  stop(force: boolean): void;
  /** Let upgraded connections run up to `graceMs`, then close them (WebSocket: Close frames with `code`). */
  closeUpgraded(code: number, reason: string, graceMs: number): Promise<void>;
}

const frontData = (c: FrontConn, d: Buffer) => {
  try { c.onData(d); } finally { if (releaseRead(c)) c.resumeHeld(); }
};
const frontWritable = (c: FrontConn) => c.onWritable();

export function listenFront(o: FrontOptions): Front {
  const conns = new Set<FrontConn>();
  const gone = (c: FrontConn) => { conns.delete(c); c.onSocketClose(); };
  const goneSocket = (s: Socket<FrontConn>) => gone(s.data);
  // Idle between requests → close; a request body that stopped arriving for as long → drop (the
  // upstream sees the upload aborted); an upgraded connection with no byte either way for as long →
  // close; waiting on our side (a slow upstream) → keep waiting.
  const timedOut = (s: Socket<FrontConn>) => {
    if (s.data.idle) s.end();
    else if (s.data.awaitingBody) s.terminate();
    else if (s.data.rawIdleFor(s.data.rawIdleMs ?? o.idleTimeoutS * 1000)) s.data.goAway(WS_GOING_AWAY, "idle timeout");
    // A client that stopped reading an answer for as long: drop it (it would hold an upstream connection forever).
    else if (s.data.writeStalledFor(o.idleTimeoutS * 1000)) s.terminate();
    else s.timeout(s.data.rawIdleMs !== undefined ? Math.max(1, Math.ceil(s.data.rawIdleMs / 1000)) : o.idleTimeoutS);
  };
  const listen = (port: number, tls: Bun.TLSOptions | undefined, reusePort: boolean) => Bun.listen<FrontConn>({
    hostname: o.hostname,
    port,
    // Bun.listen takes reusePort (SO_REUSEPORT) at run time; its listen options type does not declare it.
    ...({ reusePort } as object),
    ...(tls ? { tls } : {}),
    socket: {
      binaryType: "buffer",
      // TLS: BoringSSL verified the chain; the live verdict (revoked now?) decides before any byte is read.
      handshake(s, ok) {
        const cert = ok ? s.getPeerCertificate() : undefined;
        const verdict = cert && o.peers ? o.peers.admit(cert) : false;
        if (verdict === false) { s.terminate(); return; }
        s.data.peerId = verdict;
        s.data.peerSerial = cert!.serialNumber;
      },
      open(s) {
        const c = new FrontConn(s, o);
        s.data = c;
        conns.add(c);
        s.setNoDelay(true);
        s.timeout(o.idleTimeoutS);
      },
      // A new request (the connection idle) is handled at the end of the event-loop turn with the other
      // sockets' events, in the order they came (src/lib/turn-queue.ts); bytes of a request under way (a
      // streamed body, a tunnel, a pipe) go on at once, unless a read of this connection still waits.
      data(s, d) {
        const c = s.data;
        if (c.heldReads === 0 && !c.idle) { c.onData(d); return; }
        if (holdRead(c)) s.pause();
        inTurn(frontData, c, d, gone);
      },
      drain(s) { inTurn(frontWritable, s.data, undefined, gone); },
      close(s) { inTurn(gone, s.data, undefined, gone); },
      error(s) { inTurn(gone, s.data, undefined, gone); },
      timeout(s) { inTurn(timedOut, s, undefined, goneSocket); },
    },
  });
  // A TLS front binds with SO_REUSEPORT so retls() can open a second listener on the port; a plain bind
  // first keeps a port held by anyone else an error (EADDRINUSE) rather than a silent share.
  if (o.tls && !o.reusePort && o.port !== 0) Bun.listen({ hostname: o.hostname, port: o.port, socket: { data() {} } }).stop(true);
  let listener = listen(o.port, o.tls, o.reusePort || o.tls !== undefined);
  const headSweep = setInterval(() => {
    const now = Date.now();
    for (const c of conns) c.headTimedOut(now);
  }, Math.min(1000, Math.max(50, o.headTimeoutMs / 4)));
  (headSweep as unknown as { unref?: () => void }).unref?.();
  return {
    get listener() { return listener; },
    port: listener.port,
    retls(tls) {
      const old = listener;
      listener = listen(old.port, tls, true);
      old.stop(false);
      o.log.info("listener serves a renewed certificate to new connections; open connections carry on", { port: old.port });
    },
    async closeUpgraded(code, reason, graceMs) {
      const upgraded = () => [...conns].filter((c) => c.upgraded);
      const deadline = Date.now() + graceMs;
      while (upgraded().length > 0 && Date.now() < deadline) await Bun.sleep(Math.min(200, Math.max(1, deadline - Date.now())));
      const left = upgraded();
      if (left.length === 0) return;
      o.log.info("closing upgraded connections of a retired listener", { port: listener.port, count: left.length, code, reason });
      for (const c of left) c.goAway(code, reason);
      const until = Date.now() + 3000;
      while (upgraded().length > 0 && Date.now() < until) await Bun.sleep(20);
    },
    stop(force) {
      clearInterval(headSweep);
      listener.stop(force);
      for (const c of conns) {
        if (force) { c.socket.terminate(); continue; }
        c.stopping = true;
        if (c.idle) c.socket.end();
      }
    },
  };
}
