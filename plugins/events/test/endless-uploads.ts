/**
 * Attacker process for the limits tests: `bun run endless-uploads.ts <port> <n> [path]` opens n connections,
 * each sending a chunked POST body (to `path`, default /events) that never ends (64 KiB chunks of "[", bounded
 * at 64 MiB and 10 s) until the server answers; prints one JSON line: per connection the status, the answer's
 * body, whether the server closed the connection, and the bytes sent by then. Run apart from the host so the attackers do not share its event loop:
 * in one process, the writers outpace the host's raw front and its tunnel and the byte count measures
 * the test's own scheduling, not the server.
 */
import { RawConn } from "../../../test/support/raw-http";

const MB = 1024 * 1024;
const [port, n, path] = [Number(process.argv[2]), Number(process.argv[3] ?? 1), process.argv[4] ?? "/events"];
const attack = async () => {
  const c = await RawConn.open(port);
  try {
    await c.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.from(`10000\r\n${"[".repeat(65536)}\r\n`, "latin1");
    const deadline = Date.now() + 10_000;
    let sent = 0;
    while (c.buf.indexOf("\r\n\r\n") === -1 && !c.closed && sent < 64 * MB && Date.now() < deadline) { await Promise.race([c.write(chunk), Bun.sleep(200)]); sent += 65536; }
    const res = await c.read({ method: "POST", timeoutMs: 5000 });
    return { status: res.status, body: res.body.toString("utf8"), closed: await c.waitClosed(3000), sent };
  } finally {
    c.terminate();
  }
};
console.log(JSON.stringify(await Promise.all(Array.from({ length: n }, attack))));
