/** The conformance suite against the embedded bun:sqlite store (temp database file). */
import { afterAll } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { eventStoreConformance } from "./conformance";
import { createEmbeddedFactory } from "./sqlite-store";

const dir = tempDir("tradpal-events-sqlite-");
let i = 0;
eventStoreConformance("embedded (bun:sqlite)", (trim) => createEmbeddedFactory({ file: join(dir, `events-${i++}.db`), sync: "normal", trim }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
