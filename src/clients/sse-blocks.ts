/**
 * The blocks of a text/event-stream body (RFC: events end with a blank line), as they arrive: the one SSE
 * framing reader of the typed subscriber and of the tests that read subscriptions raw.
 */
/** TextDecoder's options, made once (not an object per read). */
const STREAM = { stream: true };

export async function* sseBlocks(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += dec.decode(value, STREAM);
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      yield buf.slice(0, end);
      buf = buf.slice(end + 2);
    }
  }
}

/** The data of an SSE block (its data: lines, concatenated), "" when it has none (a comment, a heartbeat); no array of lines. */
export function dataOf(block: string): string {
  let data = "";
  for (let at = block.startsWith("data:") ? 0 : nextData(block, 0); at !== -1;) {
    const from = at + (block.charCodeAt(at + 5) === 32 ? 6 : 5);
    const nl = block.indexOf("\n", from);
    data += block.slice(from, nl === -1 ? block.length : nl);
    at = nl === -1 ? -1 : nextData(block, nl);
  }
  return data;
}

function nextData(block: string, from: number): number {
  const i = block.indexOf("\ndata:", from);
  return i === -1 ? -1 : i + 1;
}
