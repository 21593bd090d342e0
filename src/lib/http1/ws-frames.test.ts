import { test, expect } from "bun:test";
import { WsFrameCursor, wsCloseFrame } from "./ws-frames";

/** A frame as a peer would send it: FIN + opcode, 7/16/64-bit length, optional mask key. */
function frame(len: number, masked: boolean): Buffer {
  const ext = len < 126 ? [] : len < 65536 ? [len >> 8, len & 255] : [0, 0, 0, 0, (len / 2 ** 24) & 255, (len >> 16) & 255, (len >> 8) & 255, len & 255];
  const l7 = len < 126 ? len : len < 65536 ? 126 : 127;
  return Buffer.concat([Buffer.from([0x82, (masked ? 0x80 : 0) | l7, ...ext]), masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0), Buffer.alloc(len, 7)]);
}

test("boundaries are found whatever the frame sizes, masks and how the stream is cut", () => {
  const frames = [0, 1, 125, 126, 127, 65535, 65536, 200_000].flatMap((n) => [frame(n, false), frame(n, true)]);
  const stream = Buffer.concat(frames);
  const ends = new Set<number>();
  let at = 0;
  for (const f of frames) ends.add((at += f.length));
  for (const cut of [1, 2, 3, 7, 1000, 65_537, stream.length]) {
    const c = new WsFrameCursor();
    for (let i = 0; i < stream.length; i += cut) {
      const end = Math.min(stream.length, i + cut);
      c.feed(stream.subarray(i, end));
      expect(c.atBoundary).toBe(ends.has(end));
    }
  }
});

test("a header split across reads is not a boundary", () => {
  const c = new WsFrameCursor();
  const f = frame(70_000, true);
  c.feed(f.subarray(0, 1));
  expect(c.atBoundary).toBe(false);
  c.feed(f.subarray(1, 5));
  expect(c.atBoundary).toBe(false);
  c.feed(f.subarray(5));
  expect(c.atBoundary).toBe(true);
});

test("close frames: code and reason, masked as a client's, plain as a server's", () => {
  const plain = wsCloseFrame(1012, "service restart", false);
  expect([...plain.subarray(0, 4)]).toEqual([0x88, 17, 0x03, 0xf4]);
  expect(plain.subarray(4).toString()).toBe("service restart");
  const masked = wsCloseFrame(1001, "going away", true);
  expect(masked[1]).toBe(0x80 | 12);
  const key = masked.subarray(2, 6);
  const payload = Buffer.from(masked.subarray(6).map((b, i) => b ^ key[i & 3]));
  expect(payload.readUInt16BE(0)).toBe(1001);
  expect(payload.subarray(2).toString()).toBe("going away");
  expect(wsCloseFrame(1000, "x".repeat(500), false).length).toBe(2 + 2 + 123);
  const c = new WsFrameCursor();
  c.feed(masked);
  expect(c.atBoundary).toBe(true);
});

test("message size: fragments add up, control frames do not count, a new message starts over", () => {
  const f = (opcode: number, fin: boolean, len: number) => Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len, 1, 2, 3, 4]), Buffer.alloc(len)]);
  const c = new WsFrameCursor(100);
  c.feed(Buffer.concat([f(2, false, 60), f(9, true, 100 > 125 ? 0 : 100), f(0, true, 40)])); // 60 + 40 = 100: at the limit
  expect(c.overLimit).toBe(false);
  c.feed(f(1, true, 100));
  expect(c.overLimit).toBe(false);
  c.feed(Buffer.concat([f(2, false, 60), f(0, false, 41)]));
  expect(c.overLimit).toBe(true);
  const none = new WsFrameCursor();
  none.feed(f(2, true, 120));
  expect(none.overLimit).toBe(false);
});
