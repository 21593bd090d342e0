/**
 * WAL checkpoints off the event loop. A checkpoint copies WAL pages into the database file and fsyncs
 * it (tens of ms on a slow disk); run by SQLite's auto-checkpoint it would stall the thread that
 * commits, i.e. every publish and delivery. This Worker owns its own connection and checkpoints
 * (PASSIVE: never blocks writers) every interval; the main connection runs with wal_autocheckpoint=0.
 */
import { Database } from "bun:sqlite";

declare const self: Worker;

self.onmessage = (e: MessageEvent<{ file: string; intervalMs: number }>) => {
  const db = new Database(e.data.file);
  db.exec("PRAGMA busy_timeout = 1000");
  setInterval(() => {
    try { db.exec("PRAGMA wal_checkpoint(PASSIVE)"); } catch { /* busy: next round */ }
  }, e.data.intervalMs);
};
