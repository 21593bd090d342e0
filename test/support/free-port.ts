/**
 * A port nobody listens on right now, for a server a test or a benchmark starts next (bind to 0, read it,
 * close). The kernel may give a port it just handed out again on the next bind to 0: two servers of one
 * test then get one port, and one of them cannot bind (seen in CI: a host's gateway and security plugins
 * given the same port; the security plugin answered the gateway's requests). So one process never gets the
 * same port twice. `hostname`: where the caller's server will bind ("0.0.0.0" for every interface).
 */
const handedOut = new Set<number>();

export function freePort(hostname = "127.0.0.1"): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const s = Bun.serve({ port: 0, hostname, fetch: () => new Response() });
    const port = s.port!;
    s.stop(true);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("freePort: the kernel kept giving ports this process already handed out");
}
