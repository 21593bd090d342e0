/**
 * GET /docs: a self-contained API reference page that renders this port's /openapi.json. No CDN, no
 * external asset (only loopback may be reachable): inline CSS and script, text inserted with
 * textContent (never innerHTML), and a CSP that allows nothing but this origin.
 */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;opacity:.8}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
h2{font-size:16px;margin:22px 0 8px;text-transform:capitalize}
details{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:6px 0}
summary{cursor:pointer;padding:8px 12px;display:flex;gap:12px;align-items:baseline}
.m{font:600 12px ui-monospace,monospace;min-width:64px;text-align:center;border-radius:4px;padding:2px 6px;color:#fff;background:#6b7280}
.get{background:#2563eb}.post{background:#059669}.put{background:#d97706}.delete{background:#dc2626}.patch{background:#7c3aed}
.p{font:13px ui-monospace,monospace}.s{color:#4b5563}
.body{padding:4px 14px 12px;border-top:1px solid #eef0f3}
pre{background:#f3f4f6;padding:8px;border-radius:4px;overflow:auto;font-size:12px}
#err{color:#b91c1c}
</style></head>
<body><header><h1 id="title">API reference</h1><p id="desc"></p></header>
<main><p id="err"></p><div id="ops"></div></main>
<script>
(async function () {
  var el = function (tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = String(text); return e; };
  var doc;
  try { var r = await fetch("openapi.json", { headers: { accept: "application/json" } }); doc = await r.json(); }
  catch (e) { document.getElementById("err").textContent = "could not load openapi.json: " + e; return; }
  document.title = (doc.info && doc.info.title || "API") + " reference";
  document.getElementById("title").textContent = document.title;
  document.getElementById("desc").textContent = (doc.info && doc.info.description || "") + "  (OpenAPI " + doc.openapi + ", version " + (doc.info && doc.info.version) + ")";
  var groups = {};
  Object.keys(doc.paths || {}).sort().forEach(function (path) {
    var item = doc.paths[path];
    Object.keys(item).forEach(function (method) {
      var op = item[method];
      if (!op || typeof op !== "object" || method === "parameters") return;
      var tag = (op.tags && op.tags[0]) || path.split("/")[1] || "root";
      (groups[tag] = groups[tag] || []).push({ path: path, method: method, op: op });
    });
  });
  var root = document.getElementById("ops");
  Object.keys(groups).sort().forEach(function (tag) {
    root.appendChild(el("h2", null, tag));
    groups[tag].forEach(function (x) {
      var d = el("details"); d.setAttribute("data-route", x.method.toUpperCase() + " " + x.path);
      var s = el("summary");
      s.appendChild(el("span", "m " + x.method, x.method.toUpperCase()));
      s.appendChild(el("span", "p", x.path));
      s.appendChild(el("span", "s", x.op.summary || x.op.description || ""));
      d.appendChild(s);
      var b = el("div", "body");
      if (x.op.parameters && x.op.parameters.length) {
        b.appendChild(el("h4", null, "Parameters"));
        b.appendChild(el("pre", null, x.op.parameters.map(function (p) { return p.in + " " + p.name + (p.required ? " (required)" : "") + ": " + JSON.stringify(p.schema || {}); }).join("\\n")));
      }
      if (x.op.requestBody) { b.appendChild(el("h4", null, "Request body")); b.appendChild(el("pre", null, JSON.stringify(x.op.requestBody, null, 2))); }
      if (x.op.responses) { b.appendChild(el("h4", null, "Responses")); b.appendChild(el("pre", null, JSON.stringify(x.op.responses, null, 2))); }
      if (!b.childNodes.length) b.appendChild(el("p", "s", "No schema declared for this route."));
      d.appendChild(b);
      root.appendChild(d);
    });
  });
  document.body.setAttribute("data-rendered", String(root.querySelectorAll("details").length));
})();
</script></body></html>`;

const HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache",
};

export function docsPage(): Response {
  return new Response(PAGE, { headers: HEADERS });
}
