/**
 * The caller's identity from its TLS client certificate (platform mTLS): the SPIFFE ID of the URI SAN,
 * e.g. spiffe://tradpal.local/service/trading_service. The host's TLS front reads it at the handshake
 * (src/host/tls-peers.ts) and attaches it to each request it hands on; plugins read it here.
 *
 * A WeakMap rather than a header: a header could be sent by any client on a listener without the front
 * (plain HTTP), while this can only be set by the host. Undefined: no client certificate seen (mTLS off),
 * or a certificate without a SPIFFE ID ("").
 */
const ids = new WeakMap<Request, string>();

export function setPeerIdentity(req: Request, spiffeId: string): void {
  ids.set(req, spiffeId);
}

export function peerIdentity(req: Request): string | undefined {
  return ids.get(req);
}
