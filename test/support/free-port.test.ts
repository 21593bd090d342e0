import { expect, test } from "bun:test";
import { freePort } from "./free-port";

test("freePort never hands out one port twice in a process, and each is free to bind", () => {
  const ports = Array.from({ length: 300 }, () => freePort());
  expect(new Set(ports).size).toBe(ports.length);
  for (const port of ports.slice(0, 20)) {
    const s = Bun.serve({ port, hostname: "127.0.0.1", fetch: () => new Response() });
    expect(s.port).toBe(port);
    s.stop(true);
  }
});

test("freePort for every interface gives a port free there too", () => {
  const port = freePort("0.0.0.0");
  const s = Bun.serve({ port, hostname: "0.0.0.0", fetch: () => new Response() });
  expect(s.port).toBe(port);
  s.stop(true);
});
