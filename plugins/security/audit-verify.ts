#!/usr/bin/env bun
/**
 * Verify an audit log's hash chain:  bun run plugins/security/audit-verify.ts <data_dir>/security/audit.log
 * Exit 0 and "ok: N lines" when intact; exit 1 naming the first broken line otherwise; 2 on usage errors.
 */
import { existsSync, readFileSync } from "node:fs";
import { verifyChain } from "../../src/core/audit/chain";

const file = process.argv[2];
if (!file || !existsSync(file)) {
  console.error("usage: bun run plugins/security/audit-verify.ts <audit.log>");
  process.exit(2);
}
const result = verifyChain(readFileSync(file, "utf8"));
if (result.ok) {
  console.log(`ok: ${result.lines} lines, chain head ${result.last}`);
  process.exit(0);
}
console.error(`TAMPERED: line ${result.line}: ${result.reason}`);
process.exit(1);
