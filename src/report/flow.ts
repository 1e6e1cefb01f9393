/**
 * The row-flow diagram of a run as inline SVG: source files → bronze tables → silver models →
 * gold models → exports, laid out in columns by dependency depth, with the rows that leave the
 * flow drawn where they leave it: rejected lines under their source file, quarantined rows under
 * the model they were kept out of, superseded rows (an earlier duplicate, or a row the run's
 * as_of leaves out) under the model that left them out.
 * Built in Node; the page needs no script to show it.
 */
import type { RunReport } from './types.ts';

export type FlowNodeKind = 'file' | 'bronze' | 'silver' | 'gold' | 'export' | 'stage';
export type FlowExitKind = 'rejected' | 'quarantined' | 'superseded';

export interface FlowExit {
  kind: FlowExitKind;
  rows: number;
  /** One line per rule or reason, for the tooltip. */
  detail: string[];
}

export interface FlowNode {
  id: string;
  label: string;
  kind: FlowNodeKind;
  rows: number | null;
  status: 'success' | 'failed' | 'skipped';
  column: number;
  exits: FlowExit[];
  /** Hover text. */
  title: string;
}

export interface FlowEdge {
  from: string;
  to: string;
  rows: number | null;
}

export interface FlowGraph {
  nodes: FlowNode[];
  edges: FlowEdge[];
}

/** The nodes and edges of the row flow, from the report alone. */
export function buildFlowGraph(report: RunReport): FlowGraph {
  const nodes = new Map<string, FlowNode>();
  const edges: FlowEdge[] = [];
  const add = (n: Omit<FlowNode, 'exits' | 'title'> & { title?: string }) => {
    const node: FlowNode = { exits: [], title: n.title ?? n.label, ...n };
    nodes.set(node.id, node);
    return node;
  };
  const stageStatus = (name: string): FlowNode['status'] => report.stages.find((s) => s.stage === name)?.status ?? 'skipped';

  // Source files and the bronze tables they load.
  for (const s of report.sources) {
    const file = add({ id: `file:${s.source}`, label: s.file.split(/[\\/]/).pop() ?? s.file, kind: 'file', rows: s.records, status: 'success', column: 0, title: `${s.file}: ${s.records} records, ${s.bytes} bytes` });
    add({ id: `bronze.${s.source}`, label: `bronze.${s.source}`, kind: 'bronze', rows: s.rows_loaded, status: stageStatus('bronze') === 'failed' ? 'failed' : 'success', column: 1 });
    edges.push({ from: file.id, to: `bronze.${s.source}`, rows: s.rows_loaded });
    const reasons = report.rejects.by_source.filter((g) => g.source === s.source);
    if (s.rejects > 0) file.exits.push({ kind: 'rejected', rows: s.rejects, detail: reasons.map((r) => `${r.reason}: ${r.rows}`) });
  }

  // Models, in columns by dependency depth; quarantine models become exits, not nodes.
  const models = report.models.filter((m) => !m.quarantine);
  const depth = new Map<string, number>();
  const byName = new Map(models.map((m) => [m.model, m]));
  const depthOf = (name: string, seen = new Set<string>()): number => {
    if (name.startsWith('bronze.')) return 1;
    const known = depth.get(name);
    if (known !== undefined) return known;
    const m = byName.get(name);
    if (!m || seen.has(name)) return 1;
    seen.add(name);
    const d = 1 + Math.max(1, ...m.depends_on.map((dep) => depthOf(dep, seen)));
    depth.set(name, d);
    return d;
  };
  for (const m of models) depthOf(m.model);
  const maxSilver = Math.max(1, ...models.filter((m) => m.layer === 'silver').map((m) => depth.get(m.model) ?? 2));
  const goldShift = Math.max(0, maxSilver + 1 - minGoldDepth(models, depth));
  for (const m of models) {
    const d = (depth.get(m.model) ?? 2) + (m.layer === 'gold' ? goldShift : 0);
    add({
      id: m.model,
      label: m.model,
      kind: m.layer === 'gold' ? 'gold' : 'silver',
      rows: m.rows,
      status: m.status,
      column: d,
      title: `${m.model} (${m.materialized ?? 'table'}): ${m.status}${m.seconds !== null ? `, ${m.seconds.toFixed(2)} s` : ''}`,
    });
  }
  for (const m of models) {
    for (const dep of m.depends_on) {
      if (!nodes.has(dep)) {
        if (!dep.startsWith('bronze.')) continue;
        add({ id: dep, label: dep, kind: 'bronze', rows: null, status: 'skipped', column: 1 });
      }
      edges.push({ from: dep, to: m.model, rows: nodes.get(dep)?.rows ?? null });
    }
  }

  // Without per-model records, the silver and gold stages stand in for their models.
  if (models.length === 0) {
    const bronzeIds = [...nodes.values()].filter((n) => n.kind === 'bronze').map((n) => n.id);
    for (const [i, layer] of (['silver', 'gold'] as const).entries()) {
      const stage = report.stages.find((s) => s.stage === layer);
      add({ id: `stage:${layer}`, label: layer, kind: 'stage', rows: stage?.rows ?? null, status: stage?.status ?? 'skipped', column: 2 + i, title: `${layer} stage` });
    }
    for (const b of bronzeIds) edges.push({ from: b, to: 'stage:silver', rows: nodes.get(b)?.rows ?? null });
    edges.push({ from: 'stage:silver', to: 'stage:gold', rows: nodes.get('stage:silver')?.rows ?? null });
  }

  // Exports, after the last column.
  const lastColumn = Math.max(1, ...[...nodes.values()].map((n) => n.column));
  for (const x of report.exports) {
    const id = `export:${x.table}`;
    add({ id, label: `${x.table}.parquet`, kind: 'export', rows: x.rows, status: 'success', column: lastColumn + 1, title: `${x.path ?? x.table}: ${x.files} file(s)` });
    const from = nodes.has(`gold.${x.table}`) ? `gold.${x.table}` : nodes.has('stage:gold') ? 'stage:gold' : undefined;
    if (from) edges.push({ from, to: id, rows: x.rows });
  }

  // Quarantined rows leave at the model they were kept out of; superseded rows at the model whose rule counted them.
  const quarantineByModel = new Map<string, FlowExit>();
  for (const g of report.quarantine.by_rule) {
    const exit = quarantineByModel.get(g.model) ?? { kind: 'quarantined' as const, rows: 0, detail: [] };
    exit.rows += g.rows;
    exit.detail.push(`${g.rule}: ${g.rows}`);
    quarantineByModel.set(g.model, exit);
  }
  const supersededByModel = new Map<string, FlowExit>();
  for (const r of report.rules.filter((r) => r.kind === 'superseded' && r.rows > 0)) {
    const exit = supersededByModel.get(r.model) ?? { kind: 'superseded' as const, rows: 0, detail: [] };
    exit.rows += r.rows;
    exit.detail.push(`${r.rule}: ${r.rows}`);
    supersededByModel.set(r.model, exit);
  }
  for (const [model, exit] of [...quarantineByModel, ...supersededByModel]) {
    let node = nodes.get(model);
    if (!node) {
      const layer = model.split('.')[0] === 'gold' ? 'gold' : 'silver';
      node = nodes.get(`stage:${layer}`) ?? add({ id: model, label: model, kind: layer, rows: null, status: 'skipped', column: layer === 'gold' ? maxSilver + 1 : 2 });
    }
    node.exits.push(exit);
  }
  return { nodes: [...nodes.values()], edges };
}

function minGoldDepth(models: RunReport['models'], depth: Map<string, number>): number {
  return Math.min(Number.MAX_SAFE_INTEGER, ...models.filter((m) => m.layer === 'gold').map((m) => depth.get(m.model) ?? 2));
}

/** Sized so that eight columns (files, bronze, four silver depths, gold, exports) fit a 1400 px page. */
const COL_W = 154;
const NODE_W = 136;
const NODE_H = 42;
/** Characters of a label line at 12 px in NODE_W; longer names wrap at `_` or `.`. */
const LINE_CHARS = 15;
const LINE_H = 15;
const EXIT_H = 24;
const GAP = 16;
const PAD = 20;

const KIND_FILL: Record<FlowNodeKind, string> = {
  file: '#eef2f7',
  bronze: '#f6e7d3',
  silver: '#e9edf2',
  gold: '#fbf0c4',
  export: '#dff3e4',
  stage: '#e9edf2',
};
const EXIT_FILL: Record<FlowExitKind, string> = { rejected: '#fde2e1', quarantined: '#fdebd3', superseded: '#e8e4f8' };
const EXIT_STROKE: Record<FlowExitKind, string> = { rejected: '#c0392b', quarantined: '#d35400', superseded: '#6c5ce7' };

/** The diagram as an `<svg>` element (inline, no external references). */
export function renderFlowSvg(graph: FlowGraph): string {
  if (graph.nodes.length === 0) return '<p class="muted">This run recorded no rows to draw (it stopped before loading any file).</p>';
  const columns = new Map<number, FlowNode[]>();
  for (const n of graph.nodes) columns.set(n.column, [...(columns.get(n.column) ?? []), n]);
  const colIndex = [...columns.keys()].sort((a, b) => a - b);
  const pos = new Map<string, { x: number; y: number }>();
  let height = 0;
  const lines = new Map(graph.nodes.map((n) => [n.id, wrapLabel(shortLabel(n), LINE_CHARS)]));
  const nodeH = (n: FlowNode) => NODE_H + (lines.get(n.id)!.length - 1) * LINE_H;
  colIndex.forEach((c, i) => {
    let y = PAD + 30;
    for (const n of columns.get(c)!) {
      pos.set(n.id, { x: PAD + i * COL_W, y });
      y += nodeH(n) + n.exits.length * (EXIT_H + 8) + GAP;
    }
    height = Math.max(height, y);
  });
  const width = PAD * 2 + (colIndex.length - 1) * COL_W + NODE_W;
  const maxRows = Math.max(1, ...graph.edges.map((e) => e.rows ?? 0));
  const strokeFor = (rows: number | null) => (rows === null || rows === 0 ? 1.5 : 1.5 + 10 * Math.sqrt(rows / maxRows));
  const headers: Record<FlowNodeKind, string> = { file: 'source files', bronze: 'bronze', silver: 'silver', gold: 'gold', export: 'exports', stage: 'stage' };
  const out: string[] = [];
  out.push(`<svg class="flow" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + PAD}" viewBox="0 0 ${width} ${height + PAD}" role="img" aria-label="Row flow from source files to exports">`);
  out.push(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker></defs>`);
  // One header per run of columns of the same layers (the silver depths share one), over a rule as wide as the run.
  const heads = colIndex.map((c) => [...new Set(columns.get(c)!.map((n) => headers[n.kind]))].join(' / '));
  heads.forEach((head, i) => {
    if (i > 0 && heads[i - 1] === head) return;
    let last = i;
    while (heads[last + 1] === head) last++;
    const x1 = PAD + i * COL_W;
    const x2 = PAD + last * COL_W + NODE_W;
    out.push(`<text class="flow-col" x="${x1}" y="${PAD + 8}">${esc(last > i ? `${head} (${last - i + 1} levels)` : head)}</text>`);
    out.push(`<line class="flow-col-rule" x1="${x1}" y1="${PAD + 15}" x2="${x2}" y2="${PAD + 15}" stroke="#c5ccd6"/>`);
  });
  for (const e of graph.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x - 2;
    const y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    out.push(
      `<path class="flow-edge" data-from="${esc(e.from)}" data-to="${esc(e.to)}" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}" stroke-width="${strokeFor(e.rows).toFixed(1)}" marker-end="url(#arrow)"><title>${esc(`${e.from} → ${e.to}${e.rows !== null ? `: ${fmt(e.rows)} rows` : ''}`)}</title></path>`,
    );
  }
  for (const n of graph.nodes) {
    const p = pos.get(n.id)!;
    const stroke = n.status === 'failed' ? '#c0392b' : n.status === 'skipped' ? '#9aa3b2' : '#5b6b82';
    const dash = n.status === 'skipped' ? ' stroke-dasharray="4 3"' : '';
    out.push(`<g class="flow-node flow-${n.kind}" data-node="${esc(n.id)}" data-status="${n.status}" transform="translate(${p.x},${p.y})">`);
    out.push(`<title>${esc(n.title)}</title>`);
    const label = lines.get(n.id)!;
    const h = nodeH(n);
    out.push(`<rect width="${NODE_W}" height="${h}" rx="6" fill="${KIND_FILL[n.kind]}" stroke="${stroke}" stroke-width="${n.status === 'failed' ? 2.5 : 1.2}"${dash}/>`);
    out.push(`<text class="flow-label" x="8" y="17">${label.map((line, i) => `<tspan x="8" dy="${i ? LINE_H : 0}">${esc(line)}</tspan>`).join('')}</text>`);
    out.push(`<text class="flow-rows" x="8" y="${h - 8}">${esc(rowsText(n))}</text>`);
    n.exits.forEach((x, i) => {
      const y = h + 8 + i * (EXIT_H + 8);
      out.push(`<g class="flow-exit" data-kind="${x.kind}" data-rows="${x.rows}"><title>${esc(`${x.rows} ${x.kind}\n${x.detail.join('\n')}`)}</title>`);
      out.push(`<path d="M${NODE_W / 2 - 30},${h} L${NODE_W / 2 - 30},${y + EXIT_H / 2} L${NODE_W / 2 - 18},${y + EXIT_H / 2}" fill="none" stroke="${EXIT_STROKE[x.kind]}" stroke-width="1.5" marker-end="url(#arrow)"/>`);
      out.push(`<rect x="${NODE_W / 2 - 16}" y="${y}" width="${NODE_W / 2 + 24}" height="${EXIT_H}" rx="12" fill="${EXIT_FILL[x.kind]}" stroke="${EXIT_STROKE[x.kind]}"/>`);
      out.push(`<text class="flow-exit-label" x="${NODE_W / 2 - 6}" y="${y + 16}">${esc(`${fmt(x.rows)} ${x.kind}`)}</text></g>`);
    });
    out.push('</g>');
  }
  out.push('</svg>');
  return out.join('\n');
}

/** The label inside its column: the column header names the layer, so `silver.customers` shows as `customers`. */
function shortLabel(n: FlowNode): string {
  return n.kind === 'bronze' || n.kind === 'silver' || n.kind === 'gold' ? n.label.slice(n.label.indexOf('.') + 1) : n.label;
}

/** Lines of at most `max` characters, broken after `_`, `.` or `-` (a longer part is cut at `max`). */
export function wrapLabel(label: string, max: number): string[] {
  const parts = label.match(/[^_.-]+[_.-]?|[_.-]/g) ?? [label];
  const lines: string[] = [];
  let line = '';
  for (let part of parts) {
    while (part.length > max) {
      if (line) lines.push(line);
      lines.push(part.slice(0, max));
      part = part.slice(max);
      line = '';
    }
    if ((line + part).length > max) {
      lines.push(line);
      line = part;
    } else line += part;
  }
  if (line) lines.push(line);
  return lines;
}

/** The second line of a node: its rows, or why it has none in this run. */
function rowsText(n: FlowNode): string {
  const failed = n.status === 'failed' ? ' · failed' : '';
  if (n.rows !== null) return `${fmt(n.rows)} rows${failed}`;
  if (n.kind === 'bronze') return `loaded earlier${failed}`;
  return n.status === 'skipped' ? 'not built' : `—${failed}`;
}
export function fmt(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(2);
}
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
