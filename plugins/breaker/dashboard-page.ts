/**
 * The operator page served at GET /dashboard (Accept: text/html): one self-contained document, inline
 * CSS and JS, no build step and no CDN. It renders the SSE snapshots of /dashboard/stream and posts
 * resets to /circuit-breakers/{name}/reset (asking for the admin token only if the server wants one).
 */
export const DASHBOARD_HTML = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Circuit breakers · TradPal</title>
<style>
  :root { --bg:#0f1419; --panel:#171d24; --line:#263040; --text:#d8dee9; --dim:#8a96a8;
          --closed:#3fb950; --open:#f85149; --half:#d29922; --forced:#db61a2; --disabled:#6e7681; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; gap:16px; padding:14px 24px; border-bottom:1px solid var(--line); background:var(--panel); }
  header h1 { font-size:18px; margin:0; font-weight:600; letter-spacing:.2px; }
  #live { font-size:12px; color:var(--dim); display:flex; align-items:center; gap:6px; margin-left:auto; }
  #live .dot { width:9px; height:9px; border-radius:50%; background:var(--disabled); }
  #live.on .dot { background:var(--closed); box-shadow:0 0 6px var(--closed); }
  main { padding:20px 24px; max-width:1400px; margin:0 auto; }
  .chips { display:flex; gap:10px; flex-wrap:wrap; margin-bottom:18px; }
  .chip { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:8px 14px; min-width:110px; }
  .chip b { display:block; font-size:22px; }
  .chip span { color:var(--dim); font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
  .chip.open b { color:var(--open); } .chip.closed b { color:var(--closed); } .chip.half b { color:var(--half); } .chip.alerts b { color:var(--forced); }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:.8px; color:var(--dim); margin:22px 0 10px; font-weight:600; }
  #alerts .alert { display:flex; gap:12px; align-items:baseline; padding:9px 12px; border-radius:6px; margin-bottom:6px; background:var(--panel); border-left:4px solid var(--half); }
  #alerts .alert.critical { border-left-color:var(--open); }
  #alerts .sev { font-size:11px; font-weight:700; text-transform:uppercase; min-width:64px; }
  #alerts .critical .sev { color:var(--open); } #alerts .warning .sev { color:var(--half); }
  #alerts .since { margin-left:auto; color:var(--dim); font-size:12px; white-space:nowrap; }
  .empty { color:var(--dim); font-style:italic; padding:6px 0; }
  #grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(330px, 1fr)); gap:14px; }
  .card { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:14px 16px; border-top:4px solid var(--closed); }
  .card.open { border-top-color:var(--open); } .card.half_open { border-top-color:var(--half); }
  .card.forced_open { border-top-color:var(--forced); } .card.disabled { border-top-color:var(--disabled); }
  .card-head { display:flex; align-items:center; gap:10px; }
  .card-head .name { font-weight:600; font-size:16px; overflow:hidden; text-overflow:ellipsis; }
  .badge { margin-left:auto; font-size:11px; font-weight:700; letter-spacing:.6px; text-transform:uppercase; padding:3px 9px; border-radius:999px; color:#0f1419; background:var(--closed); }
  .badge.open { background:var(--open); } .badge.half_open { background:var(--half); } .badge.forced_open { background:var(--forced); } .badge.disabled { background:var(--disabled); }
  .meta { color:var(--dim); font-size:12px; margin:4px 0 10px; }
  .bar { height:7px; background:#0b0f14; border-radius:4px; overflow:hidden; margin:3px 0 9px; }
  .bar i { display:block; height:100%; background:var(--closed); }
  .bar i.warn { background:var(--half); } .bar i.bad { background:var(--open); }
  .stats { display:grid; grid-template-columns:repeat(4, 1fr); gap:6px; margin:6px 0 10px; }
  .stats div { background:#11161c; border-radius:6px; padding:6px 8px; }
  .stats b { display:block; font-size:15px; } .stats span { color:var(--dim); font-size:11px; }
  .row { display:flex; justify-content:space-between; font-size:12px; color:var(--dim); }
  ol.tr { list-style:none; margin:6px 0 10px; padding:0; font-size:12px; }
  ol.tr li { padding:3px 0; border-top:1px dashed var(--line); display:flex; gap:8px; }
  ol.tr .t { color:var(--dim); white-space:nowrap; } ol.tr .why { color:var(--dim); overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
  .to-open, .to-forced_open { color:var(--open); } .to-closed { color:var(--closed); } .to-half_open { color:var(--half); } .to-disabled { color:var(--disabled); }
  button { background:#21262d; color:var(--text); border:1px solid var(--line); border-radius:6px; padding:6px 12px; cursor:pointer; font:inherit; }
  button:hover { border-color:var(--accent); color:var(--accent); }
  #toast { position:fixed; right:18px; bottom:18px; background:var(--panel); border:1px solid var(--line); padding:10px 14px; border-radius:8px; display:none; }
</style>
</head>
<body>
<header><h1>⚡ Circuit breakers</h1><span id="mode" class="meta"></span><div id="live"><span class="dot"></span><span id="live-text">connecting…</span></div></header>
<main>
  <div class="chips" id="chips"></div>
  <h2>Active alerts</h2>
  <div id="alerts"><div class="empty">No active alerts.</div></div>
  <h2>Breakers</h2>
  <div id="grid"><div class="empty">No breakers yet: they appear with the first call to an upstream.</div></div>
</main>
<div id="toast"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const label = { closed: "closed", open: "open", half_open: "half-open", forced_open: "forced open", disabled: "disabled" };
let last = null;

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + "s ago"; if (s < 3600) return Math.floor(s / 60) + "m ago"; return Math.floor(s / 3600) + "h ago";
}
function until(iso) {
  const s = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return s < 60 ? s + "s" : Math.floor(s / 60) + "m " + (s % 60) + "s";
}
function bar(rate) { const cls = rate >= 50 ? "bad" : rate >= 25 ? "warn" : ""; return '<div class="bar"><i class="' + cls + '" style="width:' + Math.min(100, rate) + '%"></i></div>'; }

function render(d) {
  last = d;
  const s = d.summary;
  $("mode").textContent = d.mode === "cluster" ? "cluster mode (shared through Redis)" : "embedded mode";
  $("chips").innerHTML = [
    ["", s.total, "breakers"], ["closed", s.closed, "closed"], ["open", s.open + s.forced_open, "open"],
    ["half", s.half_open, "half-open"], ["alerts", s.active_alerts, "alerts"],
  ].map(([c, n, l]) => '<div class="chip ' + c + '"><b>' + n + '</b><span>' + l + '</span></div>').join("");
  $("alerts").innerHTML = d.alerts.length ? d.alerts.map((a) =>
    '<div class="alert ' + esc(a.severity) + '"><span class="sev">' + esc(a.severity) + '</span><span>' + esc(a.message) + '</span><span class="since">since ' + esc(ago(a.since)) + '</span></div>').join("")
    : '<div class="empty">No active alerts.</div>';
  $("grid").innerHTML = d.breakers.length ? d.breakers.map(card).join("") : '<div class="empty">No breakers yet: they appear with the first call to an upstream.</div>';
}

function card(b) {
  const tr = b.transitions.map((t) => '<li><span class="t">' + esc(ago(t.at)) + '</span><span class="to-' + esc(t.to) + '">' + esc(label[t.from] || t.from) + ' → ' + esc(label[t.to] || t.to) + '</span><span class="why" title="' + esc(t.reason) + '">' + esc(t.reason) + '</span></li>').join("");
  const next = b.next_half_open_at ? '<div class="row"><span>next trial in</span><b class="countdown" data-at="' + esc(b.next_half_open_at) + '">' + esc(until(b.next_half_open_at)) + '</b></div>' : "";
  return '<section class="card ' + esc(b.state) + '" data-breaker="' + esc(b.name) + '" data-state="' + esc(b.state) + '">' +
    '<div class="card-head"><span class="name">' + esc(b.name) + '</span><span class="badge ' + esc(b.state) + '">' + esc(label[b.state] || b.state) + '</span></div>' +
    '<div class="meta">' + esc(label[b.state]) + ' since ' + esc(ago(b.since)) + ' · ' + esc(b.window.type) + ' window of ' + b.window.size + (b.window.type === "time" ? "s" : " calls") + '</div>' +
    '<div class="row"><span>failure rate</span><b>' + b.failure_rate.toFixed(1) + '%</b></div>' + bar(b.failure_rate) +
    '<div class="row"><span>slow-call rate</span><b>' + b.slow_call_rate.toFixed(1) + '%</b></div>' + bar(b.slow_call_rate) +
    '<div class="stats"><div><b>' + b.window_calls + '</b><span>in window</span></div><div><b>' + b.totals.success + '</b><span>ok total</span></div><div><b>' + b.totals.failure + '</b><span>failed total</span></div><div><b>' + b.rejected_calls + '</b><span>rejected</span></div></div>' +
    next + (tr ? '<ol class="tr">' + tr + '</ol>' : '<div class="meta">no transitions yet</div>') +
    '<button class="reset" data-name="' + esc(b.name) + '">Reset</button></section>';
}

function toast(msg) { const t = $("toast"); t.textContent = msg; t.style.display = "block"; clearTimeout(toast.h); toast.h = setTimeout(() => { t.style.display = "none"; }, 2500); }

async function reset(name) {
  const headers = { "content-type": "application/json" };
  const token = sessionStorage.getItem("breaker-admin-token");
  if (token) headers.authorization = "Bearer " + token;
  let res = await fetch("circuit-breakers/" + encodeURIComponent(name) + "/reset", { method: "POST", headers, body: JSON.stringify({ reason: "reset from dashboard" }) });
  if (res.status === 401) {
    const t = prompt("Admin token for " + name);
    if (!t) return;
    sessionStorage.setItem("breaker-admin-token", t);
    return reset(name);
  }
  const body = await res.json().catch(() => ({}));
  toast(res.ok ? name + ": " + body.previous_state + " → " + body.state : "reset failed: " + ((body.error && body.error.message) || res.status));
}

document.addEventListener("click", (e) => { const b = e.target.closest("button.reset"); if (b) reset(b.dataset.name); });
setInterval(() => { for (const el of document.querySelectorAll(".countdown")) el.textContent = until(el.dataset.at); }, 1000);

function connect() {
  const es = new EventSource("dashboard/stream");
  es.addEventListener("snapshot", (e) => render(JSON.parse(e.data)));
  es.onopen = () => { $("live").className = "on"; $("live-text").textContent = "live"; };
  es.onerror = () => { $("live").className = ""; $("live-text").textContent = "reconnecting…"; };
}
fetch("dashboard", { headers: { accept: "application/json" } }).then((r) => r.json()).then((d) => { if (!last) render(d); }).catch(() => {});
connect();
</script>
</body>
</html>
`;
