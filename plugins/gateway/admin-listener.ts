/**
 * The admin endpoints on their own listener (`registration.admin_port`), off the data plane as Kong
 * and Envoy keep theirs: bound to `registration.admin_bind` (default 127.0.0.1). The server outlives
 * a config reload: it lives in the shared pool, the newest instance's handler serves it, and it closes
 * when the last instance using it stops (so a reload never meets its own port as EADDRINUSE).
 */
import type { Server } from "bun";
import type { SharedPool } from "../../src/core/shared-pool";

type Handler = (req: Request, clientIp: string) => Response | Promise<Response>;

interface AdminServer {
  server: Server<unknown>;
  handler: Handler;
  users: number;
  /** Host shutdown (SharedPool.closeAll) closes it too. */
  close(): void;
}

export interface AdminListener {
  readonly port: number;
  release(): void;
}

export function bindAdminListener(shared: SharedPool, hostname: string, port: number, handler: Handler): AdminListener {
  const key = `gateway:admin-listener:${hostname}:${port}`;
  const entry = shared.getOrCreate<AdminServer>(key, () => {
    const e: AdminServer = { handler, users: 0, server: undefined as unknown as Server<unknown>, close: () => e.server.stop(true) };
    e.server = Bun.serve({
      hostname,
      port,
      maxRequestBodySize: 1024 * 1024, // registrations are small JSON bodies
      fetch: (req, server) => e.handler(req, server.requestIP(req)?.address ?? ""),
    });
    return e;
  });
  entry.handler = handler;
  entry.users++;
  let released = false;
  return {
    port: entry.server.port!,
    release() {
      if (released) return;
      released = true;
      if (--entry.users > 0) return;
      entry.server.stop(true);
      void shared.delete(key);
    },
  };
}
