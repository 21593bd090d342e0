/**
 * Triggers for a reload: a change to the config file (watched through its directory, because editors
 * replace files rather than write them in place) and SIGHUP. Changes are debounced so one save is
 * one reload.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";

export interface ReloadTrigger {
  close(): void;
}

export function watchConfig(file: string, debounceMs: () => number, onChange: (reason: string) => void): ReloadTrigger {
  const full = resolve(file);
  const name = basename(full);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastStat = statKey(full);
  const fire = (reason: string) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      const now = statKey(full);
      if (reason === "file" && now === lastStat) return; // touched, not changed
      lastStat = now;
      onChange(reason);
    }, debounceMs());
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(full), (_event, filename) => {
      if (!filename || filename.toString() === name) fire("file");
    });
  } catch {
    watcher = undefined;
  }
  const onHup = () => fire("SIGHUP");
  process.on("SIGHUP", onHup);
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
      process.off("SIGHUP", onHup);
    },
  };
}

function statKey(file: string): string {
  try {
    const st = require("node:fs").statSync(file);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return "missing";
  }
}
