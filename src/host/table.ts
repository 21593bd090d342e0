/** The start-up table: plugin, address, state, ms, like a service manager's status view. */

export interface TableRow {
  plugin: string;
  address: string;
  state: string;
  ms: number | string;
}

export function renderTable(rows: TableRow[]): string {
  const head: TableRow = { plugin: "plugin", address: "address", state: "state", ms: "ms" };
  const all = [head, ...rows];
  const w = (k: keyof TableRow) => Math.max(...all.map((r) => String(r[k]).length));
  const widths = { plugin: w("plugin"), address: w("address"), state: w("state"), ms: w("ms") };
  const line = (r: TableRow) =>
    `  ${String(r.plugin).padEnd(widths.plugin)}  ${String(r.address).padEnd(widths.address)}  ${String(r.state).padEnd(widths.state)}  ${String(r.ms).padStart(widths.ms)}`;
  const rule = `  ${"-".repeat(widths.plugin)}  ${"-".repeat(widths.address)}  ${"-".repeat(widths.state)}  ${"-".repeat(widths.ms)}`;
  return [line(head), rule, ...rows.map(line)].join("\n");
}

/** The start-up table on stderr. */
export function printTable(rows: TableRow[]): void {
  process.stderr.write(`\nTradPal infrastructure host\n${renderTable(rows)}\n\n`);
}
