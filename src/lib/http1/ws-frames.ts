/**
 * Just enough of RFC 6455 for a byte relay to end a WebSocket cleanly: where frames begin in a stream
 * it relays untouched, and the bytes of a Close frame. A relay may only inject its own Close at a frame
 * boundary; anywhere else it would corrupt the frame in flight.
 */

/** Tracks frame boundaries in one direction of a WebSocket byte stream (masked or not). */
export class WsFrameCursor {
  /** Payload (and mask) bytes left of the current frame; 0 at a boundary once the header is complete. */
  private left = 0;
  /** Bytes of a frame header still being collected (a header split across reads). */
  private header: number[] = [];
  /** Payload bytes of the data message in progress (its fragments so far). */
  private messageBytes = 0;
  /** Set once a data message's announced size passed `maxMessageBytes` (never cleared). */
  overLimit = false;

  /** `maxMessageBytes`: a data message (all its fragments) larger than this sets overLimit; 0: no limit. */
  constructor(private readonly maxMessageBytes = 0) {}

  /** True between frames: nothing of a frame header or payload is pending. */
  get atBoundary(): boolean { return this.left === 0 && this.header.length === 0; }

  feed(bytes: Uint8Array): void {
    let i = 0;
    const n = bytes.length;
    while (i < n) {
      if (this.left > 0) {
        const take = Math.min(this.left, n - i);
        this.left -= take;
        i += take;
        continue;
      }
      this.header.push(bytes[i++]);
      const need = headerLength(this.header);
      if (need === -1 || this.header.length < need) continue;
      // The mask key (client frames) counts as payload here: both are relayed untouched. A zero-length,
      // unmasked frame (an empty ping, say) ends with its header.
      const len = payloadLength(this.header);
      this.left = len + (this.header[1] & 0x80 ? 4 : 0);
      const opcode = this.header[0] & 0x0f;
      if (opcode < 8) { // text, binary or a continuation: part of a data message (control frames are not)
        if (opcode !== 0) this.messageBytes = 0;
        this.messageBytes += len;
        if (this.maxMessageBytes > 0 && this.messageBytes > this.maxMessageBytes) this.overLimit = true;
      }
      this.header = [];
    }
  }
}

/** The full header length once the first two bytes are known (mask key excluded), or -1 before. */
function headerLength(h: number[]): number {
  if (h.length < 2) return -1;
  const len7 = h[1] & 0x7f;
  return len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
}

function payloadLength(h: number[]): number {
  const len7 = h[1] & 0x7f;
  if (len7 < 126) return len7;
  if (len7 === 126) return (h[2] << 8) | h[3];
  let v = 0;
  for (let k = 2; k < 10; k++) v = v * 256 + h[k];
  return v;
}

/**
 * A Close frame with a status code and a reason (at most 123 bytes of UTF-8). `masked`: as a client
 * sends it (RFC 6455 §5.3: every client-to-server frame is masked); a server's is not.
 */
export function wsCloseFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason, "utf8").subarray(0, 123);
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  const head = Buffer.from([0x88, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  const key = crypto.getRandomValues(Buffer.alloc(4));
  for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
  return Buffer.concat([head, key, payload]);
}

/** Close codes a relay uses (RFC 6455 §7.4.1, IANA registry): a port or plugin retired, or the process stopping. */
export const WS_SERVICE_RESTART = 1012;
export const WS_GOING_AWAY = 1001;
/** A message larger than the route allows (RFC 6455 §7.4.1). */
export const WS_MESSAGE_TOO_BIG = 1009;
