#!/usr/bin/env bun
/**
 * Verify the security plugin's audit log: its hash chain and its head seal (audit.head beside it, an HMAC
 * under a key derived from the KEK), so an edited, removed, reordered or cut-off line is reported.
 *   bun run audit:verify <data_dir>/security/audit.log [--kek-file <secrets.kek>]
 * The KEK: SECRETS_KEK (base64), else --kek-file, else secrets.kek beside the log.
 * Exit 0 "ok: N lines, ..." when intact; 1 "TAMPERED: ..." naming the line; 2 on usage errors (no file, no key).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { verifyLog } from "../../src/lib/audit/verify";
import { auditSealKey, loadKek } from "./crypto-box";

const args = process.argv.slice(2);
const kekAt = args.indexOf("--kek-file");
const kekFile = kekAt >= 0 ? args.splice(kekAt, 2)[1] : undefined;
const file = args[0];
const usage = (why: string) => {
  console.error(`${why}\nusage: bun run audit:verify <audit.log> [--kek-file <secrets.kek>]   (or SECRETS_KEK=<base64>)`);
  process.exit(2);
};
if (!file || !existsSync(file)) usage(file ? `no such file: ${file}` : "no audit log given");

let key: Buffer | undefined;
const keyFile = kekFile ?? join(dirname(file), "secrets.kek");
try {
  if (process.env.SECRETS_KEK) key = auditSealKey(loadKek(process.env.SECRETS_KEK, "").key);
  else if (existsSync(keyFile)) key = auditSealKey(loadKek("", keyFile).key);
  else if (kekFile) usage(`no such key file: ${kekFile}`);
} catch (err) {
  usage(`cannot read the key: ${(err as Error).message}`);
}

const result = verifyLog(file, key);
if (result.ok) {
  console.log(`ok: ${result.lines} lines, chain head ${result.last}${result.sealedAt ? `, sealed ${result.sealedAt}` : ""}`);
  process.exit(0);
}
if (result.usage) usage(`${result.reason}: set SECRETS_KEK or pass --kek-file`);
console.error(`TAMPERED: ${result.line !== undefined ? `line ${result.line}: ` : ""}${result.reason}`);
process.exit(1);
