/**
 * The docs site (`docs/site/`): one self-contained `index.html` (inline CSS, JS and data; no CDN,
 * no external file) plus `docs.json` with the same data for tools. The page holds an interactive
 * graph sources → bronze → silver → gold → exports (click a node: its docs; upstream and downstream
 * highlighted; wheel zooms, drag pans), and for every model its description, SQL, columns with
 * descriptions, types from the database catalog and derived lineage, tests, rules and the latest
 * run's figures; and the column-level lineage of gold.fact_sales.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunReport } from '../report/index.ts';
import type { Catalog } from './db-catalog.ts';
import { deriveLineage, type ModelLineage } from './lineage.ts';
import type { DocsProject } from './project.ts';

export const FEATURE_LINEAGE_MODEL = 'gold.fact_sales';

export interface BuildDocsOptions {
  project: DocsProject;
  outDir: string;
  /** Column types of the published relations; absent when the database was not reachable. */
  catalog?: Catalog;
  /** The latest run's report, for per-model figures. */
  latestRun?: RunReport;
  now?: Date;
}

export interface GraphNode {
  id: string;
  label: string;
  kind: 'source' | 'bronze' | 'silver' | 'gold' | 'export';
  x: number;
  y: number;
  quarantine?: boolean;
}

export interface DocsData {
  generated_at: string;
  catalog_available: boolean;
  latest_run: { run_id: number; status: string; started_at: string; as_of: string | null } | null;
  graph: { nodes: GraphNode[]; edges: { from: string; to: string }[]; width: number; height: number };
  sources: { name: string; relation: string; file: string; system: string; description: string; columns: { name: string; type: string | null; header: string | null }[] }[];
  models: DocsModelPage[];
  feature_lineage: { model: string; columns: ModelLineage['columns'] } | null;
}

export interface DocsModelPage {
  name: string;
  layer: string;
  description: string | null;
  sql: string;
  file: string;
  materialized: string;
  quarantine: boolean;
  unique_key: string[];
  depends_on: string[];
  used_by: string[];
  columns: { name: string; description: string | null; type: string | null; nullable: boolean | null; tests: string[]; sources: string[]; direct: string[]; declared: boolean; documented: boolean }[];
  tests: { name: string; kind: string; severity: string; summary: string; latest: { status: string; failing_rows: number } | null }[];
  rules: { name: string; kind: string; description: string | null; relation: string; latest_rows: number | null }[];
  latest: { status: string; rows: number | null; seconds: number | null } | null;
  unresolved: string[];
}

export async function buildDocsSite(options: BuildDocsOptions): Promise<{ index: string; data: DocsData }> {
  const data = docsData(options);
  await mkdir(options.outDir, { recursive: true });
  const index = path.join(options.outDir, 'index.html');
  await atomicWrite(index, renderDocsHtml(data));
  await atomicWrite(path.join(options.outDir, 'docs.json'), `${JSON.stringify(data, null, 2)}\n`);
  return { index, data };
}

export function docsData(options: BuildDocsOptions): DocsData {
  const { project, catalog, latestRun } = options;
  const lineage = deriveLineage({
    models: project.models.map((m) => ({ name: m.name, sql: m.sql, ...(m.lineage ? { lineage: m.lineage } : {}) })),
    bronze: Object.fromEntries(project.sources.map((s) => [s.name, s.columns])),
    ...(catalog ? { catalog: Object.fromEntries([...catalog].map(([relation, columns]) => [relation, columns.map((c) => c.name)])) } : {}),
  });
  const usedBy = new Map<string, string[]>();
  for (const m of project.models) for (const d of m.dependencies) usedBy.set(d, [...(usedBy.get(d) ?? []), m.name]);
  const runModel = new Map((latestRun?.models ?? []).map((m) => [m.model, m]));
  const runTests = new Map((latestRun?.tests.results ?? []).map((t) => [t.test_name, t]));
  const runRules = new Map((latestRun?.rules ?? []).map((r) => [`${r.model}\u0000${r.rule}`, r.rows]));

  const models: DocsModelPage[] = project.models.map((m) => {
    const types = catalog?.get(m.name);
    const lin = lineage.get(m.name);
    const documented = new Set(m.columns.map((c) => c.name));
    // Columns: the documented ones in .yml order, then the others the SQL (lineage) or the catalog has.
    const names = [...m.columns.map((c) => c.name)];
    for (const c of [...(lin?.columns ?? []), ...(types ?? [])]) if (!names.includes(c.name)) names.push(c.name);
    const run = runModel.get(m.name);
    return {
      name: m.name,
      layer: m.layer,
      description: m.description,
      sql: m.sql,
      file: path.relative(path.dirname(project.sqlDir), m.sqlFile),
      materialized: m.materialized,
      quarantine: m.quarantine,
      unique_key: m.uniqueKey,
      depends_on: m.dependencies,
      used_by: (usedBy.get(m.name) ?? []).sort(),
      columns: names.map((name) => {
        const type = types?.find((c) => c.name === name);
        const l = lin?.columns.find((c) => c.name === name);
        return {
          name,
          description: m.columns.find((c) => c.name === name)?.description ?? null,
          type: type?.type ?? null,
          nullable: type ? type.nullable : null,
          tests: m.tests.filter((t) => t.columns.includes(name)).map((t) => t.name),
          sources: l?.sources ?? [],
          direct: l?.direct ?? [],
          declared: l?.declared === true,
          documented: documented.has(name),
        };
      }),
      tests: m.tests.map((t) => {
        const r = runTests.get(t.name);
        return { name: t.name, kind: t.kind, severity: t.severity, summary: t.summary, latest: r ? { status: r.status, failing_rows: r.failing_rows } : null };
      }),
      rules: m.rules.map((r) => ({ ...r, latest_rows: runRules.get(`${m.name}\u0000${r.name}`) ?? null })),
      latest: run ? { status: run.status, rows: run.rows, seconds: run.seconds } : null,
      unresolved: lin?.unresolved ?? [],
    };
  });

  const exportsFromRun = latestRun?.exports.map((x) => x.table) ?? [];
  const exportTables = exportsFromRun.length ? exportsFromRun : project.models.filter((m) => m.layer === 'gold' && !m.quarantine).map((m) => m.name.slice(m.name.indexOf('.') + 1));
  const feature = lineage.get(FEATURE_LINEAGE_MODEL);
  return {
    generated_at: (options.now ?? new Date()).toISOString(),
    catalog_available: catalog !== undefined,
    latest_run: latestRun ? { run_id: latestRun.run.run_id, status: latestRun.run.status, started_at: latestRun.run.started_at, as_of: latestRun.run.as_of } : null,
    graph: layoutGraph(project, exportTables),
    sources: project.sources.map((s) => ({
      name: s.name,
      relation: s.relation,
      file: s.file,
      system: s.system,
      description: s.description,
      columns: s.columns.map((c, i) => ({ name: c, type: catalog?.get(s.relation)?.find((x) => x.name === c)?.type ?? null, header: s.header[i] ?? null })),
    })),
    models,
    feature_lineage: feature ? { model: FEATURE_LINEAGE_MODEL, columns: feature.columns } : null,
  };
}

const COL_W = 220;
const ROW_H = 54;

function layoutGraph(project: DocsProject, exportTables: string[]): DocsData['graph'] {
  const depth = new Map<string, number>();
  const byName = new Map(project.models.map((m) => [m.name, m]));
  const depthOf = (name: string, seen: Set<string> = new Set()): number => {
    if (name.startsWith('bronze.')) return 1;
    const d = depth.get(name);
    if (d !== undefined) return d;
    const m = byName.get(name);
    if (!m || seen.has(name)) return 2;
    seen.add(name);
    const v = 1 + Math.max(1, ...m.dependencies.map((x) => depthOf(x, seen)));
    depth.set(name, v);
    return v;
  };
  for (const m of project.models) depthOf(m.name);
  const maxSilver = Math.max(1, ...project.models.filter((m) => m.layer === 'silver').map((m) => depth.get(m.name)!));
  const minGold = Math.min(Number.MAX_SAFE_INTEGER, ...project.models.filter((m) => m.layer === 'gold').map((m) => depth.get(m.name)!));
  const shift = Math.max(0, maxSilver + 1 - minGold);
  const entries: { id: string; label: string; kind: GraphNode['kind']; col: number; quarantine?: boolean }[] = [];
  const edges: { from: string; to: string }[] = [];
  for (const s of project.sources) {
    entries.push({ id: `source:${s.name}`, label: s.file, kind: 'source', col: 0 });
    entries.push({ id: s.relation, label: s.relation, kind: 'bronze', col: 1 });
    edges.push({ from: `source:${s.name}`, to: s.relation });
  }
  for (const m of project.models) {
    entries.push({ id: m.name, label: m.name, kind: m.layer, col: depth.get(m.name)! + (m.layer === 'gold' ? shift : 0), quarantine: m.quarantine });
    for (const d of m.dependencies) edges.push({ from: d, to: m.name });
  }
  const lastCol = Math.max(1, ...entries.map((e) => e.col));
  for (const t of exportTables) {
    if (!byName.has(`gold.${t}`)) continue;
    entries.push({ id: `export:${t}`, label: `exports/${t}.parquet`, kind: 'export', col: lastCol + 1 });
    edges.push({ from: `gold.${t}`, to: `export:${t}` });
  }
  const cols = [...new Set(entries.map((e) => e.col))].sort((a, b) => a - b);
  const counts = new Map<number, number>();
  const nodes: GraphNode[] = entries.map((e) => {
    const row = counts.get(e.col) ?? 0;
    counts.set(e.col, row + 1);
    return { id: e.id, label: e.label, kind: e.kind, x: 20 + cols.indexOf(e.col) * COL_W, y: 40 + row * ROW_H, ...(e.quarantine ? { quarantine: true } : {}) };
  });
  return { nodes, edges, width: 40 + (cols.length - 1) * COL_W + 190, height: 60 + Math.max(...counts.values()) * ROW_H };
}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function renderDocsHtml(data: DocsData): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>medallion-etl docs</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>medallion-etl · lineage and docs</h1>
<p class="muted" id="meta"></p></header>
<div class="layout">
<section class="graph-pane"><div class="toolbar"><input id="search" type="search" placeholder="filter models…" aria-label="filter models"><button id="reset" type="button">reset view</button><span class="legend"><i class="source"></i>source file <i class="bronze"></i>bronze <i class="silver"></i>silver <i class="gold"></i>gold <i class="export"></i>export</span></div>
<svg id="graph" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="model graph"></svg></section>
<section class="detail" id="detail"></section>
</div>
<section class="lineage" id="feature-lineage"></section>
<footer class="muted">Column lineage is derived from each model's SQL: select lists are read per CTE and subquery, each column reference is resolved through the FROM aliases to the model or bronze table it reads, recursively down to the bronze source columns. Filters and join conditions are not lineage. A column marked <em>declared</em> comes from the model's <code>lineage:</code> key instead.</footer>
<script type="application/json" id="docs-data">${scriptJson(data)}</script>
<script>${JS}</script>
</body>
</html>
`;
}

const CSS = `
:root{--fg:#1d2433;--muted:#6b7485;--line:#dde2ea;--accent:#2c5aa0}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#f7f8fa}
header{padding:14px 24px;background:#fff;border-bottom:1px solid var(--line)}h1{font-size:20px;margin:0}h2{font-size:18px;margin:0 0 8px}h3{font-size:15px;margin:14px 0 6px}
.muted{color:var(--muted)}.layout{display:grid;grid-template-columns:minmax(0,3fr) minmax(340px,2fr);gap:14px;padding:14px 24px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px}.detail{overflow-x:auto;max-height:680px;overflow-y:auto}.graph-pane{padding:0;overflow:hidden}
.toolbar{display:flex;gap:8px;align-items:center;padding:8px;border-bottom:1px solid var(--line);flex-wrap:wrap}.toolbar input{padding:4px 8px;min-width:200px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;margin:0 3px 0 10px;vertical-align:-1px;border:1px solid #8a94a6}
.legend .source,.gnode.source rect{fill:#eef2f7;background:#eef2f7}.legend .bronze,.gnode.bronze rect{fill:#f6e7d3;background:#f6e7d3}.legend .silver,.gnode.silver rect{fill:#e9edf2;background:#e9edf2}
.legend .gold,.gnode.gold rect{fill:#fbf0c4;background:#fbf0c4}.legend .export,.gnode.export rect{fill:#dff3e4;background:#dff3e4}
#graph{width:100%;height:620px;display:block;cursor:grab;font:12px system-ui,sans-serif}#graph.dragging{cursor:grabbing}
.gnode{cursor:pointer}.gnode rect{stroke:#7b8699;stroke-width:1}.gnode.quarantine rect{stroke-dasharray:4 3}.gnode text{pointer-events:none}
.gnode.selected rect{stroke:#1d2433;stroke-width:2.5}.gnode.up rect{stroke:#2c5aa0;stroke-width:2}.gnode.down rect{stroke:#1e8449;stroke-width:2}.gnode.dim{opacity:.25}
.gedge{fill:none;stroke:#b3bccb;stroke-width:1.3}.gedge.hl{stroke:#2c5aa0;stroke-width:2.2}.gedge.dim{opacity:.15}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid var(--line);vertical-align:top}th{color:var(--muted);font-size:12px}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}pre{background:#f3f5f8;padding:8px;overflow:auto;max-height:420px}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:11.5px;font-weight:600;background:#e5e8ee}.badge.pass,.badge.success{background:#d5f0de;color:#1e8449}
.badge.fail,.badge.error,.badge.failed{background:#fadbd8;color:#c0392b}.badge.warn{background:#fcf0d2;color:#b9770e}
.src{display:inline-block;margin:1px 3px 1px 0;padding:0 5px;border-radius:4px;background:#f6e7d3;font-family:ui-monospace,Menlo,monospace;font-size:11.5px}
.lineage{margin:0 24px 14px}.lineage svg{font:11.5px system-ui,sans-serif}.lin-edge{fill:none;stroke:#aab5c6}.lin-edge.hl{stroke:#2c5aa0;stroke-width:2}
.lin-col{cursor:pointer}.lin-col.hl text{font-weight:700}.lin-col rect{fill:#fbf0c4;stroke:#b8a24c}.lin-src rect{fill:#f6e7d3;stroke:#b38b5d}
a{color:var(--accent);cursor:pointer}footer{padding:0 24px 24px;font-size:12px}
`;

// The page script: plain ES2020, no library. Reads #docs-data, draws the graph, fills the panels.
const JS = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('docs-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  var svg = document.getElementById('graph');
  var detail = document.getElementById('detail');
  var byId = {};
  data.graph.nodes.forEach(function (n) { byId[n.id] = n; });
  var models = {};
  data.models.forEach(function (m) { models[m.name] = m; });
  var sources = {};
  data.sources.forEach(function (s) { sources[s.relation] = s; sources['source:' + s.name] = s; });

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (k === 'text') e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function fmt(n) { return n == null ? '—' : Number(n).toLocaleString('en-US'); }

  var meta = document.getElementById('meta');
  meta.textContent = data.models.length + ' models, ' + data.sources.length + ' sources · generated ' + data.generated_at +
    (data.latest_run ? ' · latest run ' + data.latest_run.run_id + ' (' + data.latest_run.status + ', as of ' + (data.latest_run.as_of || '—') + ')' : ' · no run recorded') +
    (data.catalog_available ? '' : ' · column types unavailable (database not reachable)');

  // ---- graph
  var W = 180, H = 38;
  var view = { x: 0, y: 0, w: data.graph.width, h: data.graph.height };
  function applyView() { svg.setAttribute('viewBox', view.x + ' ' + view.y + ' ' + view.w + ' ' + view.h); }
  applyView();
  var defs = el('defs', {}, svg);
  var marker = el('marker', { id: 'arr', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto' }, defs);
  el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a94a6' }, marker);
  var edgeLayer = el('g', {}, svg), nodeLayer = el('g', {}, svg);
  var edgeEls = data.graph.edges.map(function (e) {
    var a = byId[e.from], b = byId[e.to];
    if (!a || !b) return null;
    var x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 2, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    var p = el('path', { class: 'gedge', d: 'M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2, 'marker-end': 'url(#arr)', 'data-from': e.from, 'data-to': e.to }, edgeLayer);
    return { e: e, p: p };
  }).filter(Boolean);
  var nodeEls = {};
  data.graph.nodes.forEach(function (n) {
    var g = el('g', { class: 'gnode ' + n.kind + (n.quarantine ? ' quarantine' : ''), transform: 'translate(' + n.x + ',' + n.y + ')', 'data-id': n.id, tabindex: '0' }, nodeLayer);
    el('title', {}, g).textContent = n.id;
    el('rect', { width: W, height: H, rx: 6 }, g);
    var t = el('text', { x: 8, y: 16 }, g);
    t.textContent = n.label.length > 27 ? n.label.slice(0, 26) + '…' : n.label;
    var m = models[n.id];
    var sub = el('text', { x: 8, y: 31, fill: '#5b6577' }, g);
    sub.textContent = m ? (m.materialized + (m.quarantine ? ' · quarantine' : '') + (m.latest && m.latest.rows != null ? ' · ' + fmt(m.latest.rows) + ' rows' : '')) : n.kind;
    g.addEventListener('click', function () { select(n.id); });
    g.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') select(n.id); });
    nodeEls[n.id] = g;
  });

  function walk(start, dir) {
    var seen = {}, stack = [start];
    while (stack.length) {
      var id = stack.pop();
      data.graph.edges.forEach(function (e) {
        var next = dir === 'up' ? (e.to === id ? e.from : null) : (e.from === id ? e.to : null);
        if (next && !seen[next]) { seen[next] = true; stack.push(next); }
      });
    }
    return seen;
  }
  function highlight(id) {
    var up = id ? walk(id, 'up') : {}, down = id ? walk(id, 'down') : {};
    Object.keys(nodeEls).forEach(function (k) {
      var c = nodeEls[k].classList;
      c.toggle('selected', k === id); c.toggle('up', !!up[k]); c.toggle('down', !!down[k]);
      c.toggle('dim', !!id && k !== id && !up[k] && !down[k]);
    });
    edgeEls.forEach(function (x) {
      var on = !!id && ((up[x.e.from] || x.e.from === id) && (up[x.e.to] || x.e.to === id) || (down[x.e.to] || x.e.to === id) && (down[x.e.from] || x.e.from === id));
      x.p.classList.toggle('hl', on); x.p.classList.toggle('dim', !!id && !on);
    });
  }

  // pan and zoom
  var drag = null;
  svg.addEventListener('mousedown', function (ev) { if (ev.target.closest && ev.target.closest('.gnode')) return; drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y }; svg.classList.add('dragging'); });
  window.addEventListener('mouseup', function () { drag = null; svg.classList.remove('dragging'); });
  window.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    var s = view.w / svg.clientWidth;
    view.x = drag.vx - (ev.clientX - drag.x) * s; view.y = drag.vy - (ev.clientY - drag.y) * s; applyView();
  });
  svg.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var f = ev.deltaY > 0 ? 1.15 : 1 / 1.15, r = svg.getBoundingClientRect();
    var px = view.x + (ev.clientX - r.left) / r.width * view.w, py = view.y + (ev.clientY - r.top) / r.height * view.h;
    view.w *= f; view.h *= f; view.x = px - (px - view.x) * f; view.y = py - (py - view.y) * f; applyView();
  }, { passive: false });
  document.getElementById('reset').addEventListener('click', function () { view = { x: 0, y: 0, w: data.graph.width, h: data.graph.height }; applyView(); select(null); });
  document.getElementById('search').addEventListener('input', function (ev) {
    var q = ev.target.value.trim().toLowerCase();
    Object.keys(nodeEls).forEach(function (k) { nodeEls[k].classList.toggle('dim', !!q && k.toLowerCase().indexOf(q) < 0); });
  });

  // ---- detail panel
  function link(name) {
    var a = h('a', { text: name, 'data-go': name });
    a.addEventListener('click', function () { select(name); });
    return a;
  }
  function list(names) {
    var span = h('span');
    if (!names.length) span.appendChild(document.createTextNode('—'));
    names.forEach(function (n, i) { if (i) span.appendChild(document.createTextNode(', ')); span.appendChild(byId[n] || models[n] ? link(n) : h('code', { text: n })); });
    return span;
  }
  function table(headers, rows) {
    return h('table', {}, [h('thead', {}, [h('tr', {}, headers.map(function (x) { return h('th', { text: x }); }))]),
      h('tbody', {}, rows.map(function (r) { return h('tr', {}, r.map(function (c) { return h('td', {}, [c == null ? '' : c]); })); }))]);
  }
  function badge(s) { return h('span', { class: 'badge ' + s, text: s }); }
  function srcList(xs) { return h('span', {}, xs.map(function (x) { return h('span', { class: 'src', text: x }); })); }

  function renderModel(m) {
    var parts = [h('h2', { text: m.name }),
      h('p', {}, [badge(m.materialized), m.quarantine ? ' ' : null, m.quarantine ? badge('quarantine') : null, ' ', h('code', { text: m.file })]),
      h('p', { class: 'description', text: m.description || '(no description)' }),
      h('p', {}, ['reads: ', list(m.depends_on)]), h('p', {}, ['read by: ', list(m.used_by)])];
    if (m.unique_key.length) parts.push(h('p', {}, ['grain: ', h('code', { text: m.unique_key.join(', ') })]));
    parts.push(h('h3', { text: 'Latest run' }));
    parts.push(m.latest ? h('p', {}, [badge(m.latest.status), ' ' + fmt(m.latest.rows) + ' rows' + (m.latest.seconds != null ? ', ' + m.latest.seconds.toFixed(2) + ' s' : '')]) : h('p', { class: 'muted', text: 'not in the latest run' }));
    parts.push(h('h3', { text: 'Columns (' + m.columns.length + ')' }));
    parts.push(table(['column', 'type', 'description', 'tests', 'comes from'], m.columns.map(function (c) {
      return [h('code', { text: c.name }), c.type || '', (c.description || (c.documented ? '' : '(undocumented)')), c.tests.length ? String(c.tests.length) : '',
        h('span', {}, [srcList(c.sources), c.declared ? h('em', { text: ' declared' }) : null])];
    })));
    parts.push(h('h3', { text: 'Tests (' + m.tests.length + ')' }));
    parts.push(table(['test', 'severity', 'checks', 'latest'], m.tests.map(function (t) {
      return [h('code', { text: t.name }), t.severity, t.summary, t.latest ? h('span', {}, [badge(t.latest.status), t.latest.failing_rows ? ' ' + fmt(t.latest.failing_rows) : '']) : '—'];
    })));
    if (m.rules.length) {
      parts.push(h('h3', { text: 'Rules (' + m.rules.length + ')' }));
      parts.push(table(['rule', 'kind', 'description', 'latest rows'], m.rules.map(function (r) { return [h('code', { text: r.name }), r.kind, r.description || '', fmt(r.latest_rows)]; })));
    }
    if (m.unresolved.length) parts.push(h('p', { class: 'muted', text: 'lineage: unresolved references ' + m.unresolved.join(', ') }));
    parts.push(h('h3', { text: 'SQL' }));
    parts.push(h('pre', { class: 'sql', text: m.sql }));
    return parts;
  }
  function renderSource(s) {
    return [h('h2', { text: s.relation }), h('p', {}, [badge(s.system), ' ', h('code', { text: 'seeds/bronze/' + s.file })]), h('p', { text: s.description }),
      h('h3', { text: 'Columns' }), table(['column', 'header', 'type'], s.columns.map(function (c) { return [h('code', { text: c.name }), c.header || '(lineage)', c.type || 'text']; }))];
  }
  function select(id) {
    highlight(id);
    detail.textContent = '';
    var parts;
    if (!id) parts = [h('h2', { text: 'Select a node' }), h('p', { class: 'muted', text: 'Click a model, a bronze table or a source file to see its docs. Wheel zooms, drag pans.' })];
    else if (models[id]) parts = renderModel(models[id]);
    else if (sources[id]) parts = renderSource(sources[id]);
    else parts = [h('h2', { text: id }), h('p', { text: 'Parquet export of ' + id.replace('export:', 'gold.') })];
    parts.forEach(function (p) { detail.appendChild(p); });
    if (id && history.replaceState) history.replaceState(null, '', '#' + encodeURIComponent(id));
  }

  // ---- feature lineage of fact_sales
  function renderFeatureLineage() {
    var box = document.getElementById('feature-lineage');
    var fl = data.feature_lineage;
    if (!fl) { box.appendChild(h('p', { class: 'muted', text: 'No gold.fact_sales model: no feature lineage to show.' })); return; }
    box.appendChild(h('h2', { text: 'Column lineage: ' + fl.model }));
    box.appendChild(h('p', { class: 'muted', text: 'Which bronze source columns each feature comes from. Click a feature or a source column.' }));
    var srcs = [];
    fl.columns.forEach(function (c) { c.sources.forEach(function (s) { if (srcs.indexOf(s) < 0) srcs.push(s); }); });
    srcs.sort();
    var rowH = 20, height = Math.max(fl.columns.length, srcs.length) * rowH + 20, lx = 10, rx = 520, bw = 210;
    var s = el('svg', { id: 'lineage-graph', width: rx + 260, height: height, viewBox: '0 0 ' + (rx + 260) + ' ' + height });
    var edges = el('g', {}, s);
    var colY = {}, srcY = {}, lines = [];
    srcs.forEach(function (x, i) {
      srcY[x] = 10 + i * rowH;
      var g = el('g', { class: 'lin-src', 'data-source': x, transform: 'translate(' + rx + ',' + srcY[x] + ')' }, s);
      el('rect', { width: 250, height: rowH - 4, rx: 3 }, g);
      el('text', { x: 5, y: 12 }, g).textContent = x.replace(/^bronze\./, '');
      g.addEventListener('click', function () { mark(function (l) { return l.s === x; }); });
    });
    fl.columns.forEach(function (c, i) {
      colY[c.name] = 10 + i * rowH;
      var g = el('g', { class: 'lin-col', 'data-column': c.name, transform: 'translate(' + lx + ',' + colY[c.name] + ')' }, s);
      el('rect', { width: bw, height: rowH - 4, rx: 3 }, g);
      el('text', { x: 5, y: 12 }, g).textContent = c.name + (c.declared ? ' (declared)' : '');
      g.addEventListener('click', function () { mark(function (l) { return l.c === c.name; }); });
      c.sources.forEach(function (x) {
        var y1 = colY[c.name] + rowH / 2 - 2, y2 = srcY[x] + rowH / 2 - 2, mx = (lx + bw + rx) / 2;
        lines.push({ c: c.name, s: x, p: el('path', { class: 'lin-edge', d: 'M' + (lx + bw) + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + rx + ',' + y2 }, edges) });
      });
    });
    function mark(pred) {
      lines.forEach(function (l) { l.p.classList.toggle('hl', pred(l)); });
      Array.prototype.forEach.call(s.querySelectorAll('.lin-col'), function (g) { g.classList.toggle('hl', lines.some(function (l) { return pred(l) && l.c === g.getAttribute('data-column'); })); });
    }
    box.appendChild(h('div', { style: 'overflow:auto' }, [s]));
    box.appendChild(h('h3', { text: 'As a table' }));
    box.appendChild(table(['feature', 'from (model columns)', 'from (bronze source columns)'], fl.columns.map(function (c) { return [h('code', { text: c.name }), srcList(c.direct), srcList(c.sources)]; })));
  }

  renderFeatureLineage();
  var initial = decodeURIComponent(location.hash.slice(1));
  select(byId[initial] ? initial : (byId['gold.fact_sales'] ? 'gold.fact_sales' : null));
})();
`;
