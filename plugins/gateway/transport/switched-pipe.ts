/**
 * After an upstream's 101 on the wire lane: the client's connection stops being HTTP and its bytes go
 * to the upstream connection as they come, a full upstream socket pausing the client (the other way,
 * RelayExchange forwards the upstream's bytes with the client's backpressure).
 */
import type { PipeLimits, WireClient } from "../../../src/core/wire";
import type { Conn, ConnectionPool } from "./pool";

/** `ended`: the client side went away (the upstream connection is then the caller's to drop). */
export function pipeClientToUpstream(pool: ConnectionPool, conn: Conn, client: WireClient, limits: PipeLimits | undefined, ended: () => void): void {
  client.switchProtocols({
    data(bytes) {
      if (conn.closed) return;
      pool.writeAll(conn, bytes);
      if (conn.pending !== null) {
        client.pauseReading();
        conn.onDrain = () => client.resumeReading();
      }
    },
    end: ended,
  }, limits);
}
