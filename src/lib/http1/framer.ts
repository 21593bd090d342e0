/**
 * Finds where an HTTP/1.1 message body ends in a byte stream without copying it, so a relay can pass
 * the bytes on verbatim (Content-Length, chunked with trailers, or until close) and know when the
 * connection is free for the next message; a client that needs the body itself is told where its
 * data bytes are (the chunked framing decoded) through `advance`'s `data` callback. Chunked syntax
 * is checked strictly: hex sizes, CRLF line ends, so what we forward is what the next parser will read.
 */

const enum S { Size, Ext, SizeLf, Data, DataCr, DataLf, TrailerStart, TrailerLine, TrailerLf, FinalLf }

export const FRAMER_MORE = -1;
export const FRAMER_ERROR = -2;
const MAX_SIZE_DIGITS = 12;
const MAX_LINE = 8192;

export class BodyFramer {
  /** 0 none left, 1 length, 2 chunked, 3 until close. */
  private mode = 0;
  private remaining = 0;
  private s = S.Size;
  private digits = 0;
  private line = 0;
  /** Why the last advance returned FRAMER_ERROR. */
  error = "";
  /** Chunked: offset, in the range the last advance() saw, where the trailer section began (-1: not there). */
  trailerAt = -1;

  /** Chunked: past the last chunk (in the trailer section or its final CRLF). */
  get inTrailers(): boolean { return this.mode === 2 && this.s >= S.TrailerStart; }

  /** A body of exactly `n` bytes (0 → none). */
  length(n: number): this { this.mode = n > 0 ? 1 : 0; this.remaining = n; return this; }
  chunked(): this { this.mode = 2; this.s = S.Size; this.remaining = 0; this.digits = 0; this.line = 0; return this; }
  untilClose(): this { this.mode = 3; return this; }
  none(): this { this.mode = 0; return this; }

  get done(): boolean { return this.mode === 0; }
  get closeDelimited(): boolean { return this.mode === 3; }

  /**
   * Consume `buf[at, end)`. Returns the offset just past the body's last byte when the body ends
   * inside this range, FRAMER_MORE when every byte belongs to the body and more is to come, or
   * FRAMER_ERROR on malformed chunked framing. `data`, when given, is told each run of body data
   * bytes `[from, to)` (no chunk framing), in order.
   */
  advance(buf: Uint8Array, at: number, end: number, data?: (from: number, to: number) => void): number {
    switch (this.mode) {
      case 0: return at;
      case 1: {
        const take = Math.min(this.remaining, end - at);
        this.remaining -= take;
        if (data !== undefined && take > 0) data(at, at + take);
        if (this.remaining === 0) { this.mode = 0; return at + take; }
        return FRAMER_MORE;
      }
      case 3: if (data !== undefined && end > at) data(at, end); return FRAMER_MORE;
      default: return this.chunk(buf, at, end, data);
    }
  }

  private fail(why: string): number { this.error = why; this.mode = 0; return FRAMER_ERROR; }

  private chunk(buf: Uint8Array, at: number, end: number, data: ((from: number, to: number) => void) | undefined): number {
    this.trailerAt = -1;
    let i = at;
    while (i < end) {
      const c = buf[i];
      switch (this.s) {
        case S.Size: {
          const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (v >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail("chunk size too long");
            this.remaining = this.remaining * 16 + v;
          } else if (this.digits === 0) return this.fail("chunk size is not hexadecimal");
          else if (c === 13) this.s = S.SizeLf;
          else if (c === 59 || c === 32 || c === 9) { this.s = S.Ext; this.line = 0; }
          else return this.fail("chunk size is not hexadecimal");
          i++;
          break;
        }
        case S.Ext:
          if (c === 13) this.s = S.SizeLf;
          else if (c === 10 || c === 0) return this.fail("bare LF in a chunk extension");
          else if (++this.line > MAX_LINE) return this.fail("chunk extension too long");
          i++;
          break;
        case S.SizeLf:
          if (c !== 10) return this.fail("chunk size line not ended by CRLF");
          i++;
          this.digits = 0;
          if (this.remaining === 0) { this.s = S.TrailerStart; this.trailerAt = i; }
          else this.s = S.Data;
          break;
        case S.Data: {
          const take = Math.min(this.remaining, end - i);
          if (data !== undefined && take > 0) data(i, i + take);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.s = S.DataCr;
          break;
        }
        case S.DataCr:
          if (c !== 13) return this.fail("chunk data not followed by CRLF");
          this.s = S.DataLf; i++;
          break;
        case S.DataLf:
          if (c !== 10) return this.fail("chunk data not followed by CRLF");
          this.s = S.Size; i++;
          break;
        case S.TrailerStart:
          if (c === 13) this.s = S.FinalLf;
          else if (c === 10) return this.fail("bare LF after the last chunk");
          else { this.s = S.TrailerLine; this.line = 0; }
          i++;
          break;
        case S.TrailerLine:
          if (c === 13) this.s = S.TrailerLf;
          else if (c === 10) return this.fail("bare LF in a trailer");
          else if (++this.line > MAX_LINE) return this.fail("trailer line too long");
          i++;
          break;
        case S.TrailerLf:
          if (c !== 10) return this.fail("trailer line not ended by CRLF");
          this.s = S.TrailerStart; i++;
          break;
        case S.FinalLf:
          if (c !== 10) return this.fail("chunked body not ended by CRLF");
          this.mode = 0;
          return i + 1;
      }
    }
    return FRAMER_MORE;
  }
}
