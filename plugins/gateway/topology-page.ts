/**
 * GET /topology/view: the call graph drawn as SVG, in four columns (callers → routes → services → instances),
 * redrawn from GET /topology every 2 s. Self-contained (no CDN, no library). An edge's width grows with its
 * rate; its colour is its error ratio (green < 1 %, amber < 5 %, red ≥ 5 %); a service whose breaker is
 * open (or forced open) is drawn red and dashed, and so are the edges into it; half-open amber.
 */
export const TOPOLOGY_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TradPal gateway · call graph</title>
<style>
  body { font: 13px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
  h1 { font-size: 18px; margin: 0 0 4px; } #meta { color: #666; margin-bottom: 8px; }
  text { font: 12px system-ui, sans-serif; } .label { font-size: 11px; paint-order: stroke; stroke: #fafafa; stroke-width: 4px; } .col { font-weight: 600; fill: #555; }
  .legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: middle; }
</style></head>
<body>
<h1>Gateway call graph</h1>
<div id="meta">loading…</div>
<div class="legend">errors <span style="background:#2e7d32"></span>&lt; 1 % <span style="background:#f9a825"></span>&lt; 5 % <span style="background:#c62828"></span>≥ 5 % · breaker open: red dashed</div>
<svg id="g" xmlns="http://www.w3.org/2000/svg" width="1260" height="400"></svg>
<script>
const NS = "http://www.w3.org/2000/svg";
const COLS = ["caller", "route", "service", "instance"];
const X = [20, 370, 720, 1070], W = 170;
const colour = (r) => (r >= 0.05 ? "#c62828" : r >= 0.01 ? "#f9a825" : "#2e7d32");
function el(name, attrs, text) { const e = document.createElementNS(NS, name); for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
function sum(edges, from, to) {
  const m = new Map();
  for (const e of edges) {
    const k = e[from] + "\\u0000" + e[to];
    const a = m.get(k) || { from: e[from], to: e[to], rps: 0, requests: 0, errors: 0, p99: null, service: e.service };
    a.rps += e.rps; a.requests += e.requests; a.errors += e.errors; a.p99 = Math.max(a.p99 ?? 0, e.p99_ms ?? 0);
    m.set(k, a);
  }
  return [...m.values()];
}
function draw(t) {
  const svg = document.getElementById("g");
  svg.replaceChildren();
  const pos = {};
  let maxRows = 1;
  COLS.forEach((kind, c) => {
    const nodes = t.nodes.filter((n) => n.kind === kind);
    maxRows = Math.max(maxRows, nodes.length);
    svg.appendChild(el("text", { x: X[c], y: 16, class: "col" }, kind + "s"));
    nodes.forEach((n, i) => { pos[kind + ":" + n.id] = { x: X[c], y: 50 + i * 56 }; });
  });
  svg.setAttribute("height", String(80 + maxRows * 56));
  const breaker = (svc) => (t.breakers || {})[svc] || "closed";
  const links = [["caller", "route"], ["route", "service"], ["service", "instance"]];
  links.forEach(([a, b], c) => {
    for (const l of sum(t.edges, a, b)) {
      const p = pos[a + ":" + l.from], q = pos[b + ":" + l.to];
      if (!p || !q) continue;
      const ratio = l.requests ? l.errors / l.requests : 0;
      const state = breaker(l.service);
      const open = state === "open" || state === "forced_open";
      const x1 = p.x + W, x2 = q.x, mid = (x1 + x2) / 2;
      svg.appendChild(el("path", {
        d: "M" + x1 + "," + p.y + " C" + mid + "," + p.y + " " + mid + "," + q.y + " " + x2 + "," + q.y,
        fill: "none", stroke: open ? "#c62828" : colour(ratio), "stroke-width": String(1.5 + Math.min(10, Math.log2(1 + l.rps * 10))),
        "stroke-dasharray": open ? "6 4" : "", "data-edge": a + "→" + b, "data-from": l.from, "data-to": l.to,
      }));
      svg.appendChild(el("text", { x: mid, y: (p.y + q.y) / 2 - 6, fill: "#444", class: "label", "text-anchor": "middle" }, l.rps.toFixed(2) + "/s · " + (ratio * 100).toFixed(1) + "% err" + (l.p99 ? " · p99 " + l.p99 + "ms" : "")));
    }
  });
  COLS.forEach((kind) => {
    for (const n of t.nodes.filter((x) => x.kind === kind)) {
      const p = pos[kind + ":" + n.id];
      const state = kind === "service" ? breaker(n.id) : "closed";
      const stroke = state === "open" || state === "forced_open" ? "#c62828" : state === "half_open" ? "#f9a825" : "#607d8b";
      svg.appendChild(el("rect", { x: p.x, y: p.y - 16, width: W, height: 30, rx: 6, fill: "#fff", stroke, "stroke-width": 2, "stroke-dasharray": state === "closed" ? "" : "5 3", "data-node": kind + ":" + n.id }));
      svg.appendChild(el("text", { x: p.x + 8, y: p.y + 4 }, (n.id.length > 25 ? n.id.slice(0, 24) + "…" : n.id) + (state !== "closed" ? " [" + state + "]" : "")));
    }
  });
  const shared = t.shared === "redis" ? " · " + t.sources.length + " gateway processes" : t.shared === "unavailable" ? " · this process only (Redis unavailable)" : "";
  document.getElementById("meta").textContent = t.edges.length + " edges over the last " + t.window_s + " s · " + t.generated_at + shared;
}
async function tick() {
  try { draw(await (await fetch("/topology")).json()); } catch (e) { document.getElementById("meta").textContent = "cannot read /topology: " + e; }
  setTimeout(tick, 2000);
}
tick();
</script>
</body></html>
`;
