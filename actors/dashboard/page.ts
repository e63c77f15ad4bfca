/**
 * The dashboard's pages, served by the scheduler from this module (no
 * file, no CDN: they work with no internet). Plain HTML, CSS and script;
 * the task stream is drawn on a canvas. The status page listens to
 * `/api/stream` (server-sent events, one aggregated snapshot once a
 * second); the task page reads `/api/task/KEY` once a second.
 *
 * @module
 */

const STYLE = `
body { font: 13px system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { display: flex; gap: 16px; align-items: center; padding: 8px 16px; background: #1f3b4d; color: #fff; }
header a { color: #fff; }
header form { margin-left: auto; }
section { margin: 12px 16px; padding: 8px 12px; background: #fff; border: 1px solid #ddd; border-radius: 4px; }
h2 { font-size: 14px; margin: 4px 0 8px; }
h2 small { font-weight: normal; color: #666; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: right; padding: 2px 8px; border-bottom: 1px solid #eee; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
.bar { display: flex; height: 12px; width: 240px; background: #eee; }
.bar span { display: block; height: 100%; }
.memory { background: #3a9a4a; } .processing { background: #3a6ea5; }
.queued { background: #a0a0a0; } .waiting { background: #d0d0d0; } .erred { background: #c0392b; }
#legend span { display: inline-block; margin-right: 12px; }
#legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
pre { white-space: pre-wrap; background: #f4f4f4; padding: 8px; }
`;

/** The status page: task stream, progress per function, workers. */
export const STATUS_PAGE: string = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tendril dashboard</title>
<style>${STYLE}</style></head>
<body data-updates="0">
<header><b>Tendril</b><span id="summary">connecting…</span>
<form id="find"><input name="key" placeholder="task key" size="30"> <button>Open task</button></form></header>
<section><h2>Task stream <small>last 10 s, one lane per worker slot, coloured by function; click a bar for its task</small></h2>
<canvas id="stream" width="1200" height="60" data-spans="0"></canvas><div id="legend"></div></section>
<section><h2>Progress <small>tasks in the scheduler by state, per function</small></h2>
<table id="progress"><thead><tr><th>function</th><th></th><th>memory</th><th>processing</th><th>queued</th>
<th>waiting</th><th>erred</th><th>finished runs</th></tr></thead><tbody></tbody></table></section>
<section><h2>Workers</h2>
<table id="workers"><thead><tr><th>worker</th><th>address</th><th>slots</th><th>executing</th><th>seceded</th>
<th>processing</th><th>held values</th><th>held bytes</th><th>heap</th><th>RSS</th><th>CPU</th></tr></thead><tbody></tbody></table>
<small>RSS and CPU are of the worker's process: in-process workers share one.</small></section>
<script>
const WINDOW_MS = 10000, LANE = 14, GUTTER = 170;
let spans = [], drawn = [], received = 0, updates = 0;
const colors = new Map();
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
function color(name) {
  if (!colors.has(name)) {
    let h = 0;
    for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    colors.set(name, "hsl(" + (h % 360) + " 60% 50%)");
  }
  return colors.get(name);
}
function bytes(n) {
  const u = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function drawStream(now, workers) {
  const canvas = $("stream"), from = now - WINDOW_MS;
  const byWorker = new Map(workers.map((w) => [w.id, { w, lanes: [] }]));
  const placed = [];
  for (const s of spans.slice().sort((a, b) => a[1] - b[1])) {
    let row = byWorker.get(s[0]);
    if (!row) byWorker.set(s[0], row = { w: { id: s[0], slots: 1 }, lanes: [] });
    let lane = row.lanes.findIndex((end) => end <= s[1]);
    if (lane < 0) { lane = row.lanes.length; row.lanes.push(0); }
    row.lanes[lane] = s[2];
    placed.push([row, lane, s]);
  }
  let y = 0;
  const rows = [...byWorker.values()].sort((a, b) => a.w.id.localeCompare(b.w.id));
  for (const r of rows) { r.y = y; y += Math.max(r.w.slots, r.lanes.length) * LANE + 4; }
  canvas.height = Math.max(y, 20);
  const ctx = canvas.getContext("2d"), width = canvas.width - GUTTER;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "11px system-ui";
  ctx.fillStyle = "#333";
  for (const r of rows) ctx.fillText(r.w.id.slice(-24), 2, r.y + 11);
  drawn = [];
  let seceded = 0;
  for (const [r, lane, s] of placed) {
    const x = GUTTER + Math.max(0, (s[1] - from) / WINDOW_MS * width);
    const w = Math.max(1, (s[2] - Math.max(s[1], from)) / WINDOW_MS * width);
    const top = r.y + lane * LANE;
    ctx.fillStyle = s[4] ? "#c0392b" : color(s[3]);
    ctx.fillRect(x, top, w, LANE - 2);
    const sec = s[6] || [];
    ctx.fillStyle = "rgba(255, 255, 255, 0.7)";
    for (let i = 0; i + 1 < sec.length; i += 2) {
      if (sec[i + 1] <= from) continue;
      const a = Math.max(sec[i], from);
      ctx.fillRect(GUTTER + (a - from) / WINDOW_MS * width, top + 2, Math.max(1, (sec[i + 1] - a) / WINDOW_MS * width), LANE - 6);
      seceded++;
    }
    drawn.push([x, top, w, s[5]]);
  }
  canvas.dataset.spans = String(received);
  canvas.dataset.seceded = String(seceded);
  const names = [...new Set(spans.map((s) => s[3]))].sort();
  $("legend").innerHTML = names.map((n) => '<span><i style="background:' + color(n) + '"></i>' + esc(n) + "</span>").join("") +
    '<span><i style="background:#ccc"></i>paler: seceded (slot given back)</span>';
}
function renderProgress(groups) {
  $("progress").tBodies[0].innerHTML = groups.map((g) => {
    const total = g.memory + g.processing + g.queued + g.waiting + g.erred || 1;
    const seg = (k) => '<span class="' + k + '" style="width:' + (100 * g[k] / total) + '%"></span>';
    return '<tr data-name="' + esc(g.name) + '"><td>' + esc(g.name) + '</td><td><div class="bar">' +
      seg("memory") + seg("processing") + seg("queued") + seg("waiting") + seg("erred") + "</div></td>" +
      ["memory", "processing", "queued", "waiting", "erred", "finished"].map((k) => '<td class="n-' + k + '">' + g[k] + "</td>").join("") + "</tr>";
  }).join("");
}
function renderWorkers(workers) {
  $("workers").tBodies[0].innerHTML = workers.map((w) => "<tr><td>" + esc(w.id) + "</td><td>" + esc(w.address) + "</td><td>" + w.slots +
    "</td><td>" + w.executing + "</td><td>" + w.seceded + "</td><td>" + w.processing + "</td><td>" + w.heldKeys + "</td><td>" + bytes(w.heldBytes) +
    "</td><td>" + (w.heap === undefined ? "" : bytes(w.heap)) + "</td><td>" + (w.rss === undefined ? "" : bytes(w.rss)) +
    "</td><td>" + (w.cpu === undefined ? "" : Math.round(100 * w.cpu) + "%") + "</td></tr>").join("");
}
function update(s) {
  received += s.spans.length;
  for (const sp of s.spans) spans.push(sp);
  const cutoff = s.info.time - WINDOW_MS;
  spans = spans.filter((sp) => sp[2] >= cutoff).slice(-4000);
  drawStream(s.info.time, s.info.workers);
  renderProgress(s.groups);
  renderWorkers(s.info.workers);
  const t = s.info.tasks;
  $("summary").textContent = s.info.workers.length + " workers, " + s.info.clients + " clients | processing " + t.processing +
    ", queued " + t.queued + ", in memory " + t.memory + ", erred " + t.erred + " | " + s.info.finished + " runs finished" +
    (s.skipped ? " (stream sampled)" : "");
  document.body.dataset.updates = String(++updates);
}
$("stream").addEventListener("click", (e) => {
  const r = e.target.getBoundingClientRect();
  const x = e.clientX - r.left, y = e.clientY - r.top;
  const hit = drawn.find(([bx, by, bw]) => x >= bx && x <= bx + bw + 1 && y >= by && y < by + LANE);
  if (hit) location.href = "/task/" + encodeURIComponent(hit[3]);
});
$("find").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = new FormData(e.target).get("key");
  if (key) location.href = "/task/" + encodeURIComponent(key);
});
const source = new EventSource("/api/stream");
source.onmessage = (e) => update(JSON.parse(e.data));
source.onerror = () => { $("summary").textContent = "disconnected from the scheduler; retrying…"; };
</script></body></html>
`;

/** The task page: one task's state, worker, dependencies, holders, error. */
export const TASK_PAGE: string = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tendril task</title>
<style>${STYLE}</style></head>
<body>
<header><a href="/"><b>Tendril</b></a><span id="title"></span></header>
<section id="task">loading…</section>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const key = decodeURIComponent(location.pathname.slice("/task/".length));
const link = (k) => '<a href="/task/' + encodeURIComponent(k) + '">' + esc(k) + "</a>";
const list = (xs) => xs.length ? xs.map((d) => link(d.key) + " (" + esc(d.status) + ")").join("<br>") : "none";
document.getElementById("title").textContent = "task " + key;
async function load() {
  const res = await fetch("/api/task/" + encodeURIComponent(key));
  const el = document.getElementById("task");
  if (res.status === 404) {
    el.innerHTML = "<h2>" + esc(key) + "</h2><p>The scheduler does not have this task (never submitted, or forgotten once nobody held it).</p>";
    return;
  }
  const t = await res.json();
  el.innerHTML = "<h2>" + esc(t.key) + "</h2><table>" +
    "<tr><td>state</td><td id=status>" + esc(t.status) + (t.seceded ? " (seceded)" : "") + "</td></tr>" +
    "<tr><td>function</td><td>" + esc(t.function) + "</td></tr>" +
    "<tr><td>worker</td><td>" + esc(t.worker ?? "") + "</td></tr>" +
    "<tr><td>launched in the tree of</td><td>" + (t.root ? link(t.root) : "a client") + "</td></tr>" +
    "<tr><td>dependencies</td><td>" + list(t.dependencies) + "</td></tr>" +
    "<tr><td>dependents</td><td>" + list(t.dependents) + "</td></tr>" +
    "<tr><td>value held by</td><td>" + (t.holders.map(esc).join(", ") || "nobody") + " (" + t.nbytes + " bytes)</td></tr>" +
    "<tr><td>wanted by</td><td>" + (t.wantedBy.map(esc).join("<br>") || "nobody") + "</td></tr></table>" +
    (t.error ? "<h2>Error</h2><pre id=error>" + esc(t.error.name + ": " + t.error.message + "\\n" + (t.error.stack ?? "")) + "</pre>" : "");
}
load();
setInterval(load, 1000);
</script></body></html>
`;
