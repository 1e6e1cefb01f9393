/**
 * The docs site (`docs/site/`): one self-contained `index.html` (inline CSS, script and data; no CDN,
 * no external file) plus `docs.json` with the same data for tools. The page holds the model graph
 * sources → bronze → silver → gold → exports, laid out in layers by dagre when the site is written
 * and drawn at a readable size across the page's width, a search that pans the graph to its match,
 * and a page per model (`#/gold.fact_sales`): description, SQL, columns with type, description,
 * tests and lineage, upstream and downstream (exports included), rules and the latest run's figures.
 * The page script lives in browser/*.ts and is bundled by esbuild when the site is written.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dagre from '@dagrejs/dagre';
import { build } from 'esbuild';
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
  /** The name without its layer (the colour and the caption say the layer). */
  label: string;
  /** Second line: what it is (materialization, quarantine), rows of the latest run. */
  caption: string;
  kind: 'source' | 'bronze' | 'silver' | 'gold' | 'export';
  /** Top-left corner and size, in graph units (one unit is one CSS pixel at scale 1). */
  x: number;
  y: number;
  width: number;
  height: number;
  quarantine?: boolean;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** The polyline dagre routes the edge along, from the upstream node to the downstream one. */
  points: { x: number; y: number }[];
}

export interface DocsData {
  generated_at: string;
  catalog_available: boolean;
  latest_run: { run_id: number; status: string; started_at: string; as_of: string | null } | null;
  graph: { nodes: GraphNode[]; edges: GraphEdge[]; width: number; height: number; font_size: number };
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
  /** The models that read this one, then its Parquet export (`export:fact_sales`) when it has one. */
  used_by: string[];
  columns: { name: string; description: string | null; role: string | null; type: string | null; nullable: boolean | null; tests: string[]; sources: string[]; direct: string[]; declared: boolean; documented: boolean }[];
  tests: { name: string; kind: string; severity: string; summary: string; latest: { status: string; failing_rows: number } | null }[];
  rules: { name: string; kind: string; description: string | null; relation: string; latest_rows: number | null }[];
  latest: { status: string; rows: number | null; seconds: number | null } | null;
  unresolved: string[];
}

export async function buildDocsSite(options: BuildDocsOptions): Promise<{ index: string; data: DocsData }> {
  const data = docsData(options);
  await mkdir(options.outDir, { recursive: true });
  const index = path.join(options.outDir, 'index.html');
  await atomicWrite(index, renderDocsHtml(data, await pageScript()));
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
  const exportsFromRun = latestRun?.exports.map((x) => x.table) ?? [];
  const exportTables = (exportsFromRun.length ? exportsFromRun : project.models.filter((m) => m.layer === 'gold' && !m.quarantine).map((m) => m.name.slice(m.name.indexOf('.') + 1))).filter((t) =>
    project.models.some((m) => m.name === `gold.${t}`),
  );
  for (const t of exportTables) usedBy.set(`gold.${t}`, [...(usedBy.get(`gold.${t}`) ?? []), `export:${t}`]);

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
      used_by: (usedBy.get(m.name) ?? []).sort((a, b) => Number(a.startsWith('export:')) - Number(b.startsWith('export:')) || a.localeCompare(b)),
      columns: names.map((name) => {
        const type = types?.find((c) => c.name === name);
        const l = lin?.columns.find((c) => c.name === name);
        return {
          name,
          description: m.columns.find((c) => c.name === name)?.description ?? null,
          role: m.columns.find((c) => c.name === name)?.role ?? null,
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

  const feature = lineage.get(FEATURE_LINEAGE_MODEL);
  return {
    generated_at: (options.now ?? new Date()).toISOString(),
    catalog_available: catalog !== undefined,
    latest_run: latestRun ? { run_id: latestRun.run.run_id, status: latestRun.run.status, started_at: latestRun.run.started_at, as_of: latestRun.run.as_of } : null,
    graph: layoutGraph(project, exportTables, models),
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

/** Graph units of the labels; the page never draws them below 11 CSS pixels. */
const FONT_SIZE = 14;
const NODE_H = 46;

/**
 * The graph in layers, top to bottom (source files, bronze, the silver models by dependency depth,
 * gold, exports), by dagre's layered layout: it orders the nodes of each layer to cross few edges
 * and routes each edge between the layers.
 */
function layoutGraph(project: DocsProject, exportTables: string[], pages: DocsModelPage[]): DocsData['graph'] {
  const entries: Omit<GraphNode, 'x' | 'y' | 'width' | 'height'>[] = [];
  const edges: { from: string; to: string }[] = [];
  const fmt = (n: number) => n.toLocaleString('en-US');
  for (const s of project.sources) {
    entries.push({ id: `source:${s.name}`, label: s.file, caption: `${s.system} source file`, kind: 'source' });
    entries.push({ id: s.relation, label: s.name, caption: 'bronze table', kind: 'bronze' });
    edges.push({ from: `source:${s.name}`, to: s.relation });
  }
  for (const m of pages) {
    const rows = m.latest?.rows;
    const caption = [m.materialized, ...(m.quarantine ? ['quarantine'] : []), ...(rows != null ? [`${fmt(rows)} rows`] : [])].join(' · ');
    entries.push({ id: m.name, label: m.name.slice(m.name.indexOf('.') + 1), caption, kind: m.layer === 'gold' ? 'gold' : 'silver', ...(m.quarantine ? { quarantine: true } : {}) });
    for (const d of m.depends_on) edges.push({ from: d, to: m.name });
  }
  for (const t of exportTables) {
    entries.push({ id: `export:${t}`, label: `${t}.parquet`, caption: 'Parquet export', kind: 'export' });
    edges.push({ from: `gold.${t}`, to: `export:${t}` });
  }
  const known = new Set(entries.map((e) => e.id));
  const g = new dagre.graphlib.Graph<{ width: number; height: number; x: number; y: number }>();
  g.setGraph({ rankdir: 'TB', nodesep: 14, ranksep: 52, edgesep: 8, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  // Width from the longer of the two lines: about 0.6 em a character for the label, 0.5 for the caption.
  for (const e of entries) g.setNode(e.id, { width: Math.ceil(Math.max(e.label.length * FONT_SIZE * 0.6, e.caption.length * FONT_SIZE * 0.82 * 0.55) + 20), height: NODE_H, x: 0, y: 0 });
  const drawn = edges.filter((e) => known.has(e.from) && known.has(e.to));
  for (const e of drawn) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const nodes: GraphNode[] = entries.map((e) => {
    const n = g.node(e.id);
    return { ...e, x: Math.round(n.x - n.width / 2), y: Math.round(n.y - n.height / 2), width: n.width, height: n.height };
  });
  const graph = g.graph();
  return {
    nodes,
    edges: drawn.map((e) => ({ ...e, points: (g.edge(e.from, e.to) as { points?: { x: number; y: number }[] }).points?.map((p) => ({ x: Math.round(p.x), y: Math.round(p.y) })) ?? [] })),
    width: Math.ceil(graph.width ?? 0),
    height: Math.ceil(graph.height ?? 0),
    font_size: FONT_SIZE,
  };
}

let bundled: Promise<string> | undefined;

/**
 * The page script: browser/main.ts (browser/main.js when running from dist/), bundled by esbuild
 * into one script, once per process.
 */
export function pageScript(): Promise<string> {
  bundled ??= (async () => {
    const here = fileURLToPath(import.meta.url);
    const entry = path.join(path.dirname(here), 'browser', `main${path.extname(here)}`);
    const out = await build({ entryPoints: [entry], bundle: true, write: false, format: 'iife', target: 'es2020', platform: 'browser', legalComments: 'none', logLevel: 'silent' });
    return out.outputFiles[0]!.text;
  })();
  return bundled;
}

/** Writes `file` whole or not at all: a temporary file renamed over it. */
export async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** `</script` cannot appear inside an inline script element. */
function inlineScript(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1');
}

export function renderDocsHtml(data: DocsData, script: string): string {
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
<header class="top"><a class="home" href="#/">medallion-etl · lineage and docs</a>
<div class="search"><input id="search" type="search" placeholder="search models, tables, columns…" aria-label="search models, tables and columns" autocomplete="off"><ul id="search-results" role="listbox" hidden></ul></div>
<p class="muted" id="meta"></p></header>
<main id="view"></main>
<footer class="muted">Column lineage is derived from each model's SQL: select lists are read per CTE and subquery, each column reference is resolved through the FROM aliases to the model or bronze table it reads, recursively down to the bronze source columns. Filters and join conditions are not lineage. A column marked <em>declared</em> comes from the model's <code>lineage:</code> key instead.</footer>
<script type="application/json" id="docs-data">${scriptJson(data)}</script>
<script>${inlineScript(script)}</script>
</body>
</html>
`;
}

const CSS = `
:root{--fg:#1d2433;--muted:#5f6878;--line:#dde2ea;--accent:#2c5aa0}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#f7f8fa}
header.top{position:sticky;top:0;z-index:5;display:flex;gap:18px;align-items:center;flex-wrap:wrap;padding:10px 24px;background:#fff;border-bottom:1px solid var(--line)}
.home{font-weight:700;font-size:18px;color:var(--fg);text-decoration:none}header.top p{margin:0;font-size:13px}
.search{position:relative}.search input{width:340px;padding:6px 10px;font-size:15px;border:1px solid #b9c1cf;border-radius:6px}
#search-results{position:absolute;left:0;top:100%;z-index:6;margin:2px 0 0;padding:4px 0;list-style:none;width:460px;max-height:420px;overflow:auto;background:#fff;border:1px solid var(--line);border-radius:6px;box-shadow:0 6px 18px rgba(0,0,0,.12)}
#search-results li{padding:4px 10px;cursor:pointer}#search-results li.active,#search-results li:hover{background:#eaf0fa}#search-results small{color:var(--muted);margin-left:6px}
main{padding:16px 24px}h1{font-size:24px;margin:0 0 6px}h2{font-size:19px;margin:22px 0 8px}h3{font-size:16px;margin:16px 0 6px}
section.card{scroll-margin-top:90px;background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0 0 16px}
.muted{color:var(--muted)}.toolbar{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin-bottom:8px}.toolbar button{font-size:14px;padding:3px 10px}
.legend i{display:inline-block;width:13px;height:13px;border-radius:3px;margin:0 4px 0 12px;vertical-align:-2px;border:1px solid #8a94a6}
.legend .source,.gnode.source rect{fill:#eef2f7;background:#eef2f7}.legend .bronze,.gnode.bronze rect{fill:#f6e7d3;background:#f6e7d3}.legend .silver,.gnode.silver rect{fill:#e4e9f0;background:#e4e9f0}
.legend .gold,.gnode.gold rect{fill:#fbf0c4;background:#fbf0c4}.legend .export,.gnode.export rect{fill:#dff3e4;background:#dff3e4}
#graph-wrap{overflow-x:auto;overflow-y:hidden}#graph{display:block;font-family:system-ui,sans-serif}
.gnode{cursor:pointer}.gnode rect{stroke:#7b8699;stroke-width:1}.gnode.quarantine rect{stroke-dasharray:5 3}.gnode text{pointer-events:none}.gnode .label{font-weight:600}.gnode .caption{fill:#4f5868}
.gnode.up rect{stroke:#2c5aa0;stroke-width:2}.gnode.down rect{stroke:#1e8449;stroke-width:2}.gnode.dim{opacity:.25}.gnode.match rect{stroke:#d35400;stroke-width:3}
.gedge{fill:none;stroke:#aeb8c8;stroke-width:1.4}.gedge.hl{stroke:#2c5aa0;stroke-width:2.2}.gedge.dim{opacity:.12}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}th{color:var(--muted);font-size:13px;font-weight:600}td code{overflow-wrap:anywhere}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}pre{background:#f3f5f8;padding:10px;overflow:auto;max-height:560px;border-radius:6px}
.badge{display:inline-block;padding:0 8px;border-radius:9px;font-size:12.5px;font-weight:600;background:#e5e8ee;margin-right:4px}.badge.pass,.badge.success{background:#d5f0de;color:#1e8449}
.badge.fail,.badge.error,.badge.failed{background:#fadbd8;color:#c0392b}.badge.warn{background:#fcf0d2;color:#b9770e}
.chip{display:inline-block;margin:1px 4px 1px 0;padding:0 6px;border-radius:4px;background:#f6e7d3;font-family:ui-monospace,Menlo,monospace;font-size:12.5px}
.rel{display:grid;grid-template-columns:1fr 1fr;gap:16px}.rel ul{margin:4px 0;padding-left:20px}
.cols td:first-child{white-space:nowrap}.cols tr.selected{background:#eaf0fa}.undocumented{color:#b9770e;font-style:italic}.role{font-size:12px;padding:1px 6px;border-radius:8px;background:#eef}.role-feature{background:#e3f4e1}.role-lifetime{background:#fde2e1}
.trace{font-size:13px;margin-left:6px}ul.tree{list-style:none;padding-left:18px;margin:2px 0}ul.tree.root{padding-left:0}ul.tree li{margin:2px 0}
ul.tree li::before{content:"← ";color:var(--muted)}ul.tree.root>li::before{content:""}.tree .leaf{background:#f6e7d3;border-radius:4px;padding:0 5px}
.models-index td:first-child{white-space:nowrap}a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}footer{padding:0 24px 24px;font-size:13px}
`;
