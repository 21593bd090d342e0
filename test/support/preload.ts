/**
 * Loaded before every test file (bunfig.toml [test].preload). The suites talk to a real Redis at
 * 127.0.0.1:6379; on a machine where none is running, start a throwaway redis-server for the run (no
 * persistence) so `bun run test` needs nothing but redis-server installed, and stop it afterwards.
 */
import { connect } from "node:net";
import { setDefaultTimeout } from "bun:test";

// Integration tests start real servers, Redis and TLS handshakes: 60 s each, also when one file is run
// alone (`bun test <file>`). bunfig.toml's [test] timeout is not applied by Bun 1.4.5 (a 7 s test timed
// out at 5 s without --timeout); `bun run test` passes --timeout 60000 as well.
setDefaultTimeout(60_000);

function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

const SHARED_PORT = 6379;
if (!process.env.TEST_REDIS_URL && !(await redisAnswers(SHARED_PORT))) {
  if (!Bun.which("redis-server")) {
    console.warn("[tests] no Redis on 127.0.0.1:6379 and no redis-server installed: Redis-backed tests will fail (apt-get install redis-server)");
  } else {
    const proc = Bun.spawn(["redis-server", "--port", String(SHARED_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" });
    process.on("exit", () => proc.kill());
    const deadline = Date.now() + 5000;
    while (!(await redisAnswers(SHARED_PORT))) {
      if (Date.now() > deadline) throw new Error("started redis-server on 6379 but it does not answer");
      await Bun.sleep(50);
    }
    console.warn("[tests] started a throwaway redis-server on 127.0.0.1:6379 for this run");
  }
}
