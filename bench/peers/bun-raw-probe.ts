// The floor of the gateway's wire lane, measured beside it in bench/gateway.bench.ts: Bun.listen in
// front of a keep-alive pool on Bun.connect, bytes relayed as they come. It assumes what the gateway
// may not: GET only, the request head and the whole response arrive in one read each, one request
// in flight per connection; no parsing beyond the request line, no routing, headers, metrics or logs.
//   bun run bench/peers/bun-raw-probe.ts <port> <origin port>
import type { Socket } from "bun";

const port = Number(process.argv[2]);
const originPort = Number(process.argv[3]);

interface Upstream { client: Socket<unknown> | null }
const idle: Socket<Upstream>[] = [];

function connectUpstream(): Promise<Socket<Upstream>> {
  return Bun.connect<Upstream>({
    hostname: "127.0.0.1",
    port: originPort,
    data: { client: null },
    socket: {
      binaryType: "buffer",
      data(up, bytes) {
        const client = up.data.client;
        up.data.client = null;
        idle.push(up);
        client?.write(bytes);
      },
      close(up) { const i = idle.indexOf(up); if (i !== -1) idle.splice(i, 1); },
      error() {},
    },
  });
}

Bun.listen({
  hostname: "127.0.0.1",
  port,
  socket: {
    binaryType: "buffer",
    async data(client, bytes) {
      const text = bytes.toString("latin1", 0, Math.min(bytes.length, 2048));
      const target = text.slice(text.indexOf(" ") + 1, text.indexOf(" HTTP/1."));
      const up = idle.pop() ?? (await connectUpstream());
      up.data.client = client;
      up.write("GET " + target + " HTTP/1.1\r\nhost: 127.0.0.1:" + originPort + "\r\n\r\n");
    },
    error() {},
  },
});
process.on("SIGTERM", () => process.exit(0));
