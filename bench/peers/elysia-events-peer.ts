/**
 * The bare Elysia peer of `bun run bench events`: POST /events answered with the same kind of JSON, no
 * validation, no store. Run as its own process: `bun run bench/peers/elysia-events-peer.ts <port>`.
 */
import { Elysia } from "elysia";

const port = Number(process.argv[2]);
new Elysia()
  .post("/events", ({ body }) => new Response(JSON.stringify({ ok: true, type: (body as { type?: string } | undefined)?.type }), { status: 201, headers: { "content-type": "application/json" } }))
  .listen({ port, hostname: "127.0.0.1" });
