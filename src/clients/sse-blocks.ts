/**
 * The blocks of a text/event-stream body (RFC: events end with a blank line), as they arrive: the one SSE
 * framing reader of the typed subscriber and of the tests that read subscriptions raw.
 */
export async function* sseBlocks(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      yield buf.slice(0, end);
      buf = buf.slice(end + 2);
    }
  }
}
