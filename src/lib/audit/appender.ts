/**
 * The audit log file's writer: one write of a whole batch to a descriptor kept open across batches
 * (an open + close per batch was most of a batch's cost). Before each batch the path is checked
 * (one stat) to still name the open file: a log moved away (rotation), deleted or replaced is
 * reopened at its path, as a fresh open per batch would have done, so lines never go to a file
 * nobody reads. A batch that cannot be written whole is cut back off the file and reported: the
 * caller keeps its lines queued and answers nothing that depended on them (fail closed).
 */
import { closeSync, fstatSync, ftruncateSync, openSync, statSync, writeSync } from "node:fs";

export interface Appender {
  /** Append `bytes` at the end of the file; throws (the file cut back to its size before) when they cannot be written whole. */
  append(bytes: Uint8Array): void;
  close(): void;
}

export function openAppender(file: string): Appender {
  let fd = -1;
  let ino = -1;
  let dev = -1;
  /** The file's size when last checked: where a failed batch is cut back to. */
  let end = 0;

  function close(): void {
    if (fd < 0) return;
    try { closeSync(fd); } catch { /* already unusable */ }
    fd = -1;
  }

  /** The descriptor for what `file` names now (a new one when the path was moved, deleted or replaced). */
  function current(): number {
    if (fd >= 0) {
      const st = statSync(file, { throwIfNoEntry: false });
      if (st !== undefined && st.ino === ino && st.dev === dev) { end = st.size; return fd; }
      close();
    }
    const opened = openSync(file, "a", 0o600); // EISDIR, EACCES...: thrown to the caller
    const st = fstatSync(opened);
    fd = opened;
    ino = st.ino;
    dev = st.dev;
    end = st.size;
    return fd;
  }

  return {
    append(bytes) {
      const at = current();
      let done = 0;
      try {
        while (done < bytes.length) done += writeSync(at, bytes, done, bytes.length - done);
      } catch (err) {
        // A partial batch (disk full mid-write) must not stay: the retry writes it whole.
        if (done > 0) { try { ftruncateSync(at, end); } catch { /* the next try fails the same way */ } }
        close();
        throw err;
      }
    },
    close,
  };
}
