/**
 * The soak's chart (bench/soak.svg), drawn as plain SVG: three panels on one time axis (minutes) —
 * RSS per platform process, open fds per platform process, and failed requests per bin (inside an injected
 * fault's window or outside any) — with every fault window shaded by kind and every config rewrite marked.
 * A line breaks where its role's pid changes (the process was killed and started again).
 */
import type { ProcSampleRow } from "./soak-sampler";

export interface ChartFault { kind: string; start: number; end: number }
export interface ChartBin { t: number; inside: number; outside: number; ok: number }

const W = 1100, LEFT = 60, RIGHT = 200, TOP = 56, PANEL = 210, GAP = 46;
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const FAULT_FILL: Record<string, string> = { upstream: "#ffd8a8", worker: "#d0ebff", plugin: "#d3f9d8", redis: "#ffc9c9" };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const niceMax = (v: number) => { if (!(v > 0)) return 1; const p = 10 ** Math.floor(Math.log10(v)); return [1, 2, 2.5, 5, 10].map((m) => m * p).find((x) => x >= v)!; };

export function soakSvg(o: {
  title: string; t0: number; t1: number; faults: ChartFault[]; rewrites: number[]; rows: ProcSampleRow[]; roles: string[]; bins: ChartBin[]; binS: number;
}): string {
  const plotW = W - LEFT - RIGHT;
  const H = TOP + 3 * PANEL + 2 * GAP + 50;
  const x = (t: number) => LEFT + ((t - o.t0) / Math.max(1, o.t1 - o.t0)) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${LEFT}" y="20" font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  const colour = new Map(o.roles.map((r, i) => [r, PALETTE[i % PALETTE.length]]));

  const panel = (i: number, label: string, yMax: number, body: (y: (v: number) => number) => string[]) => {
    const top = TOP + i * (PANEL + GAP);
    const y = (v: number) => top + PANEL - (v / yMax) * PANEL;
    out.push(`<g>`);
    for (const f of o.faults) out.push(`<rect x="${x(f.start).toFixed(1)}" y="${top}" width="${Math.max(1, x(f.end) - x(f.start)).toFixed(1)}" height="${PANEL}" fill="${FAULT_FILL[f.kind] ?? "#eee"}" opacity="0.7"/>`);
    for (const t of o.rewrites) out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top}" y2="${top + PANEL}" stroke="#999" stroke-dasharray="2,3"/>`);
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
      out.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Number.isInteger(v) ? v : v.toFixed(1)}</text>`);
    }
    const minutes = (o.t1 - o.t0) / 60_000;
    const step = minutes > 6 ? 1 : minutes > 2 ? 0.5 : 0.25;
    for (let m = 0; m <= minutes + 1e-9; m += step) out.push(`<text x="${x(o.t0 + m * 60_000).toFixed(1)}" y="${top + PANEL + 14}" text-anchor="middle">${m}</text>`);
    out.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${PANEL}" fill="none" stroke="#333"/>`);
    out.push(`<text x="${LEFT}" y="${top - 6}" font-weight="bold">${esc(label)}</text>`);
    out.push(...body(y));
    out.push(`</g>`);
    return top;
  };

  const series = (value: (r: ProcSampleRow) => number) => (y: (v: number) => number) => {
    const parts: string[] = [];
    for (const role of o.roles) {
      const rows = o.rows.filter((r) => r.role === role && !Number.isNaN(value(r)));
      let d = "";
      let pid = -1;
      for (const r of rows) {
        d += `${r.pid === pid ? "L" : "M"}${x(r.t).toFixed(1)},${y(value(r)).toFixed(1)}`;
        pid = r.pid;
      }
      if (d) parts.push(`<path d="${d}" fill="none" stroke="${colour.get(role)}" stroke-width="1.4"/>`);
    }
    return parts;
  };
  const rssMax = niceMax(Math.max(...o.rows.map((r) => r.rssMb)) * 1.05);
  const fdMax = niceMax(Math.max(...o.rows.map((r) => r.fds).filter((v) => !Number.isNaN(v))) * 1.05);
  const top0 = panel(0, "RSS (MB) per platform process", rssMax, series((r) => r.rssMb));
  panel(1, "open file descriptors per platform process", fdMax, series((r) => r.fds));
  const failMax = niceMax(Math.max(1, ...o.bins.map((b) => b.inside + b.outside)) * 1.05);
  panel(2, `failed requests and event publishes per ${o.binS} s (orange: inside a fault window, red: outside)`, failMax, (y) => {
    const bw = Math.max(1, x(o.t0 + o.binS * 1000) - x(o.t0) - 1);
    const parts: string[] = [];
    for (const b of o.bins) {
      const x0 = x(b.t - o.binS * 1000);
      if (b.inside) parts.push(`<rect x="${x0.toFixed(1)}" y="${y(b.inside).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(0) - y(b.inside)).toFixed(1)}" fill="#f08c00"/>`);
      if (b.outside) parts.push(`<rect x="${x0.toFixed(1)}" y="${y(b.inside + b.outside).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(b.inside) - y(b.inside + b.outside)).toFixed(1)}" fill="#e03131"/>`);
    }
    return parts;
  });
  out.push(`<text x="${LEFT + plotW / 2}" y="${H - 14}" text-anchor="middle">minutes since the load started</text>`);

  // Legend: roles, then fault kinds and rewrites.
  let ly = top0 + 4;
  const lx = LEFT + plotW + 14;
  for (const role of o.roles) {
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${colour.get(role)}" stroke-width="2.5"/><text x="${lx + 24}" y="${ly + 4}">${esc(role)}</text>`);
    ly += 16;
  }
  ly += 10;
  for (const [kind, fill] of Object.entries(FAULT_FILL)) {
    out.push(`<rect x="${lx}" y="${ly - 7}" width="18" height="12" fill="${fill}"/><text x="${lx + 24}" y="${ly + 4}">fault: ${kind}</text>`);
    ly += 16;
  }
  out.push(`<line x1="${lx + 9}" x2="${lx + 9}" y1="${ly - 8}" y2="${ly + 5}" stroke="#999" stroke-dasharray="2,3"/><text x="${lx + 24}" y="${ly + 4}">config.yaml rewritten</text>`);
  out.push(`</svg>`);
  return out.join("\n");
}
