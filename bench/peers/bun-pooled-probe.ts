// The floor of the gateway's architecture, measured beside it in bench/gateway.bench.ts: Bun.serve in
// front of a bare keep-alive HTTP/1.1 pool on Bun.connect. GET only, Content-Length responses that
// arrive in one read, no limits, routing, balancing, forwarding headers, metrics or logs.
//   bun run bench/peers/bun-pooled-probe.ts <port> <origin port>
const port = Number(process.argv[2]);
const originPort = Number(process.argv[3]);
interface Conn { socket: import("bun").Socket<Conn> | null; resolve: ((r: Response) => void) | null; closed: boolean }
const idle: Conn[] = [];
const END = Buffer.from("\r\n\r\n");

function onResponse(conn: Conn, data: Buffer): void {
  const end = data.indexOf(END);
  const text = data.toString("latin1", 0, end);
  const headers = new Headers();
  let length = 0;
  for (let i = text.indexOf("\r\n") + 2; i > 1 && i < text.length;) {
    let nl = text.indexOf("\r\n", i);
    if (nl === -1) nl = text.length;
    const colon = text.indexOf(":", i);
    const name = text.slice(i, colon).toLowerCase();
    const value = text.slice(colon + 1, nl).trim();
    if (name === "content-length") length = Number(value);
    if (name !== "connection" && name !== "keep-alive") headers.append(name, value);
    i = nl + 2;
  }
  const resolve = conn.resolve!;
  conn.resolve = null;
  idle.push(conn);
  resolve(new Response(data.subarray(end + 4, end + 4 + length) as Uint8Array as BodyInit, { status: Number(text.slice(9, 12)), headers }));
}

async function open(): Promise<Conn> {
  const conn: Conn = { socket: null, resolve: null, closed: false };
  const closed = (c: Conn) => {
    // The origin closed a keep-alive connection (idle timeout): forget it; a request on it gets a 502.
    const i = idle.indexOf(c);
    if (i !== -1) idle.splice(i, 1);
    c.closed = true;
    if (c.resolve) { const r = c.resolve; c.resolve = null; r(new Response("upstream closed", { status: 502 })); }
  };
  conn.socket = await Bun.connect<Conn>({ hostname: "127.0.0.1", port: originPort, data: conn, socket: { binaryType: "buffer", data: (s, d) => onResponse(s.data, d), close: (s) => closed(s.data), error: (s) => closed(s.data) } });
  conn.socket.setNoDelay(true);
  return conn;
}

Bun.serve({
  port,
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = req.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    let conn = idle.pop();
    while (conn !== undefined && conn.closed) conn = idle.pop();
    if (conn === undefined) conn = await open();
    const c = conn;
    return new Promise<Response>((resolve) => {
      c.resolve = resolve;
      c.socket!.write("GET " + path + " HTTP/1.1\r\nhost: 127.0.0.1:" + originPort + "\r\n\r\n");
    });
  },
});
process.on("SIGTERM", () => process.exit(0));
