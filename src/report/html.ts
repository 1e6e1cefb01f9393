/**
 * The run report as one self-contained HTML page: inline CSS and SVG, no script, no external
 * reference (the page opens from disk, offline, years later). Sections: status, row flow (SVG),
 * stage timings, per-rule counts, tests with sample failing rows, rejects and quarantine samples,
 * models, and the trend of the last runs.
 */
import { buildFlowGraph, esc, fmt, renderFlowSvg } from './flow.ts';
import type { HistoryEntry, RunReport, TestResult } from './types.ts';

export function renderRunReportHtml(report: RunReport): string {
  const r = report.run;
  const title = `Run ${r.run_id} — ${r.status}`;
  const flow = renderFlowSvg(buildFlowGraph(report));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta name="generator" content="medallion-etl run report ${esc(report.schema_version)}">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header class="status-${esc(r.status)}">
  <h1>Run ${r.run_id} <span class="badge ${esc(r.status)}">${esc(r.status)}</span></h1>
  <p>${esc(r.command)} · target ${esc(r.target ?? 'default')} · as of ${esc(r.as_of ?? '—')} · started ${esc(r.started_at)} · ${r.seconds === null ? 'still running' : `${r.seconds.toFixed(1)} s`} · exit ${r.exit_code ?? '—'}</p>
  ${r.error_message ? `<p class="error"><strong>${esc(r.error_code ?? 'error')}</strong>: ${esc(r.error_message)}</p>` : ''}
</header>
<nav><a href="#flow">Row flow</a><a href="#stages">Stages</a><a href="#rules">Rules</a><a href="#tests">Tests</a><a href="#rejects">Rejects</a><a href="#quarantine">Quarantine</a><a href="#models">Models</a><a href="#trend">Trend</a></nav>
<main>
${cards(report)}
<section id="flow"><h2>Row flow</h2>
<p class="muted">Source files → bronze → silver → gold → exports. Edge width grows with the rows that pass; rows that leave the flow are shown where they leave it: <span class="k rejected">rejected</span> lines under their file, <span class="k quarantined">quarantined</span> rows under the model they were kept out of, <span class="k superseded">superseded</span> rows (an earlier duplicate, or a row the run's as_of leaves out) under the model that left them out. Hover for details.</p>
<div class="scroll">${flow}</div></section>
<section id="stages"><h2>Stages</h2>${stagesSection(report)}</section>
<section id="rules"><h2>Rules</h2>${rulesSection(report)}</section>
<section id="tests"><h2>Tests</h2>${testsSection(report)}</section>
<section id="rejects"><h2>Rejected lines (bronze)</h2>${rejectsSection(report)}</section>
<section id="quarantine"><h2>Quarantine (silver, gold)</h2>${quarantineSection(report)}</section>
<section id="models"><h2>Models</h2>${modelsSection(report)}</section>
<section id="trend"><h2>Last ${report.history.length} runs</h2>${trendSection(report.history, r.run_id)}</section>
</main>
<footer>medallion run report · schema ${esc(report.schema_version)} · generated ${esc(report.generated_at)} · data: run-${r.run_id}.json</footer>
</body>
</html>
`;
}

function cards(report: RunReport): string {
  const bronzeRows = report.sources.reduce((n, s) => n + s.rows_loaded, 0);
  const superseded = report.rules.filter((x) => x.kind === 'superseded').reduce((n, x) => n + x.rows, 0);
  const t = report.tests.counts;
  const items: [string, string, string][] = [
    // A run that loads nothing (`transform`, `export`) reads the bronze tables an earlier load left.
    report.sources.length ? ['files', fmt(report.sources.length), ''] : ['files', '—', 'none-loaded'],
    report.sources.length ? ['bronze rows', fmt(bronzeRows), ''] : ['bronze rows', 'earlier load', 'none-loaded'],
    ['rejected', fmt(report.rejects.total), report.rejects.total ? 'rejected' : ''],
    ['quarantined', fmt(report.quarantine.total), report.quarantine.total ? 'quarantined' : ''],
    ['superseded', fmt(superseded), superseded ? 'superseded' : ''],
    ['tests', `${t.pass}/${t.total} pass`, t.fail + t.error ? 'failed' : t.warn ? 'warn' : ''],
    ['exports', fmt(report.exports.length), ''],
  ];
  return `<div class="cards">${items.map(([k, v, cls]) => `<div class="card ${cls}"><div class="v">${esc(v)}</div><div class="l">${esc(k)}</div></div>`).join('')}</div>`;
}

function table(headers: string[], rows: string[][], numeric: number[] = []): string {
  if (!rows.length) return '<p class="muted">None.</p>';
  const th = headers.map((h, i) => `<th${numeric.includes(i) ? ' class="n"' : ''}>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.includes(i) ? ' class="n"' : ''}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

function bar(value: number, max: number, cls = ''): string {
  const w = max > 0 ? Math.max(1, Math.round((value / max) * 100)) : 0;
  return `<span class="bar ${cls}"><span style="width:${w}%"></span></span>`;
}

function stagesSection(report: RunReport): string {
  const max = Math.max(0, ...report.stages.map((s) => s.seconds));
  const stages = table(
    ['stage', 'status', 'rows', 'seconds', ''],
    report.stages.map((s) => [esc(s.stage), badge(s.status), s.rows === null ? '—' : fmt(s.rows), s.seconds.toFixed(2), bar(s.seconds, max, s.status)]),
    [2, 3],
  );
  const files = table(
    ['file', 'records', 'loaded', 'rejected', 'blank lines', 'MB', 'seconds', 'encoding', 'line ending'],
    report.sources.map((s) => [
      `<span title="sha256 ${esc(s.sha256)}">${esc(s.file)}</span>`,
      fmt(s.records),
      fmt(s.rows_loaded),
      s.rejects ? `<span class="k rejected">${fmt(s.rejects)}</span>` : '0',
      fmt(s.blank_lines),
      (s.bytes / 1e6).toFixed(2),
      s.seconds.toFixed(2),
      esc(s.encoding),
      esc(s.line_ending),
    ]),
    [1, 2, 3, 4, 5, 6],
  );
  return `${stages}<h3>Source files</h3>${files}`;
}

function rulesSection(report: RunReport): string {
  const max = Math.max(0, ...report.rules.map((r) => r.rows));
  return table(
    ['model', 'rule', 'kind', 'rows', '', 'description'],
    report.rules.map((r) => [esc(r.model), `<code>${esc(r.rule)}</code>`, `<span class="k ${esc(r.kind)}">${esc(r.kind)}</span>`, fmt(r.rows), bar(r.rows, max, r.kind), ruleDescription(r)]),
    [3],
  );
}

const STATUS_ORDER = ['error', 'fail', 'warn', 'pass'];
const statusRank = (status: string) => (STATUS_ORDER.indexOf(status) + STATUS_ORDER.length + 1) % (STATUS_ORDER.length + 1);

/** The tests grouped by model, the models with failures first, each group's failures first; only groups with a failure or warning open. */
/** A rule's description; a quarantine rule without one says what its kind does and where the rows go. */
function ruleDescription(r: RunReport['rules'][number]): string {
  if (r.description) return esc(r.description);
  if (r.kind === 'quarantine') return `<span class="muted">rows matching <code>${esc(r.rule)}</code> are kept out of ${esc(r.model)} and recorded in the quarantine (samples below)</span>`;
  return '';
}

function testsSection(report: RunReport): string {
  const c = report.tests.counts;
  const head = `<p>${c.total} tests: <span class="badge pass">${c.pass} pass</span> <span class="badge warn">${c.warn} warn</span> <span class="badge fail">${c.fail} fail</span> <span class="badge error">${c.error} error</span></p>`;
  if (!report.tests.results.length) return `${head}<p class="muted">No tests ran in this run.</p>`;
  const groups = new Map<string, TestResult[]>();
  for (const t of report.tests.results) groups.set(t.model ?? '(project)', [...(groups.get(t.model ?? '(project)') ?? []), t]);
  const worst = (ts: TestResult[]) => Math.min(...ts.map((t) => statusRank(t.status)));
  const sorted = [...groups].sort(([a, x], [b, y]) => worst(x) - worst(y) || a.localeCompare(b));
  const body = sorted
    .map(([model, tests]) => {
      const rows = [...tests]
        .sort((a, b) => statusRank(a.status) - statusRank(b.status) || a.test_name.localeCompare(b.test_name))
        .map((t) => [badge(t.status), `<code>${esc(t.test_name)}</code>${testDetails(t)}`, esc(t.kind), esc(t.severity), t.failing_rows ? `<strong>${fmt(t.failing_rows)}</strong>` : '0', t.seconds === null ? '—' : t.seconds.toFixed(2)]);
      const counts = STATUS_ORDER.map((s) => [s, tests.filter((t) => t.status === s).length] as const).filter(([, n]) => n > 0);
      const open = tests.some((t) => t.status !== 'pass') ? ' open' : '';
      return `<details class="test-group" data-model="${esc(model)}"${open}><summary><strong>${esc(model)}</strong> ${counts.map(([s, n]) => `<span class="badge ${s}">${n} ${s}</span>`).join(' ')}</summary>${table(['status', 'test', 'kind', 'severity', 'failing rows', 'seconds'], rows, [4, 5])}</details>`;
    })
    .join('\n');
  return head + body;
}

function testDetails(t: TestResult): string {
  const hasSample = t.sample !== null && !(Array.isArray(t.sample) && t.sample.length === 0);
  if (!t.message && !hasSample) return '';
  const open = t.status === 'fail' || t.status === 'error' ? ' open' : '';
  const sample = hasSample ? (t.kind === 'equal' ? equalSample(t.sample) : sampleTable(t.sample)) : '';
  return `<details class="sample"${open}><summary>${hasSample ? 'sample failing rows' : 'message'}</summary>${t.message ? `<p>${esc(t.message)}</p>` : ''}${sample}</details>`;
}

/**
 * The values an `equal` (scalar_equality) test compared. The test's SQL gives a difference only with
 * a tolerance; without one, the difference of two numbers is computed here, and left out otherwise.
 */
function equalSample(sample: unknown): string {
  const rows = Array.isArray(sample) ? (sample as Record<string, unknown>[]) : [];
  const row = rows[0];
  if (!row || typeof row !== 'object' || !('left_value' in row)) return sampleTable(sample);
  const left = Number(row.left_value);
  const right = Number(row.right_value);
  const numeric = row.left_value !== null && row.right_value !== null && Number.isFinite(left) && Number.isFinite(right);
  const difference = row.difference !== null && row.difference !== undefined ? cell(row.difference) : numeric ? esc(fmt(Math.round((left - right) * 1e6) / 1e6)) : '';
  return `<table class="mini"><tbody><tr><th>left</th><td>${cell(row.left_value)}</td></tr><tr><th>right</th><td>${cell(row.right_value)}</td></tr>${difference ? `<tr><th>left − right</th><td>${difference}</td></tr>` : ''}</tbody></table>`;
}

/** A list of objects as a table; anything else as JSON. */
export function sampleTable(sample: unknown): string {
  if (Array.isArray(sample) && sample.length && sample.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r))) {
    const cols = [...new Set(sample.flatMap((r) => Object.keys(r as object)))];
    const rows = (sample as Record<string, unknown>[]).map((r) => cols.map((c) => cell(r[c])));
    return `<table class="mini"><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((x) => `<td>${x}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  }
  return `<pre>${esc(JSON.stringify(sample, null, 2))}</pre>`;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '<span class="null">NULL</span>';
  if (typeof v === 'object') return `<code>${esc(JSON.stringify(v))}</code>`;
  return esc(String(v));
}

function rejectsSection(report: RunReport): string {
  const groups = table(['source', 'reason', 'lines'], report.rejects.by_source.map((g) => [esc(g.source), `<code>${esc(g.reason)}</code>`, fmt(g.rows)]), [2]);
  const samples = report.rejects.samples.length
    ? `<details class="sample"><summary>sample rejected lines (${report.rejects.samples.length})</summary>${table(
        ['file', 'line', 'column', 'reason', 'message', 'raw line'],
        report.rejects.samples.map((s) => [esc(s.file), String(s.line_number), s.column_number === null ? '' : String(s.column_number), `<code>${esc(s.reason)}</code>`, esc(s.message), `<code class="raw">${esc(s.raw_text)}</code>`]),
        [1, 2],
      )}</details>`
    : '';
  return groups + samples;
}

function quarantineSection(report: RunReport): string {
  const groups = table(['model', 'rule', 'rows'], report.quarantine.by_rule.map((g) => [esc(g.model), `<code>${esc(g.rule)}</code>`, fmt(g.rows)]), [2]);
  const samples = report.quarantine.samples.length
    ? `<details class="sample"><summary>sample quarantined rows (${report.quarantine.samples.length})</summary>${table(
        ['model', 'rule', 'message', 'source', 'values'],
        report.quarantine.samples.map((s) => [esc(s.model), `<code>${esc(s.rule)}</code>`, esc(s.message), esc(`${s.source_file ?? ''}${s.line_number !== null ? `:${s.line_number}` : ''}`), cell(s.values)]),
      )}</details>`
    : '';
  return groups + samples;
}

function modelsSection(report: RunReport): string {
  const max = Math.max(0, ...report.models.map((m) => m.seconds ?? 0));
  return table(
    ['model', 'status', 'materialized', 'rows', 'seconds', '', 'reads'],
    report.models.map((m) => [
      esc(m.model) + (m.quarantine ? ' <span class="k quarantined">quarantine</span>' : ''),
      badge(m.status),
      esc(m.materialized ?? ''),
      m.rows === null ? '—' : fmt(m.rows),
      m.seconds === null ? '—' : m.seconds.toFixed(2),
      m.seconds === null ? '' : bar(m.seconds, max, m.status),
      esc(m.depends_on.join(', ')),
    ]),
    [3, 4],
  );
}

function trendSection(history: HistoryEntry[], current: number): string {
  if (history.length === 0) return '<p class="muted">No history.</p>';
  const durations = barChart(
    'Duration (seconds)',
    history.map((h) => ({ id: h.run_id, value: h.seconds ?? 0, status: h.status, label: `run ${h.run_id} (${h.command}, ${h.status}): ${(h.seconds ?? 0).toFixed(1)} s` })),
    current,
  );
  const rows = barChart(
    'Bronze rows loaded',
    history.map((h) => ({ id: h.run_id, value: h.bronze_rows ?? 0, status: h.status, label: `run ${h.run_id}: ${fmt(h.bronze_rows ?? 0)} rows` })),
    current,
  );
  const out = barChart(
    'Rejected + quarantined rows',
    history.map((h) => ({ id: h.run_id, value: h.rejects + h.quarantined, status: h.status, label: `run ${h.run_id}: ${fmt(h.rejects)} rejected, ${fmt(h.quarantined)} quarantined` })),
    current,
  );
  const stageNames = [...new Set(history.flatMap((h) => Object.keys(h.stage_seconds)))];
  const stageTable = table(
    ['run', 'status', 'as of', 'seconds', ...stageNames.map((s) => `${s} s`), ...stageNames.map((s) => `${s} rows`)],
    history
      .slice()
      .reverse()
      .map((h) => [
        h.run_id === current ? `<strong>${h.run_id}</strong>` : String(h.run_id),
        badge(h.status),
        esc(h.as_of ?? '—'),
        h.seconds === null ? '—' : h.seconds.toFixed(1),
        ...stageNames.map((s) => (h.stage_seconds[s] === undefined ? '—' : h.stage_seconds[s]!.toFixed(2))),
        ...stageNames.map((s) => (h.stage_rows[s] === undefined || h.stage_rows[s] === null ? '—' : fmt(h.stage_rows[s]!))),
      ]),
    [3, ...stageNames.map((_, i) => 4 + i), ...stageNames.map((_, i) => 4 + stageNames.length + i)],
  );
  return `<div class="charts">${durations}${rows}${out}</div>${stageTable}`;
}

function barChart(title: string, points: { id: number; value: number; status: string; label: string }[], current: number): string {
  const W = 320;
  const H = 120;
  const max = Math.max(1, ...points.map((p) => p.value));
  const bw = Math.max(4, Math.min(28, (W - 20) / points.length - 3));
  const bars = points
    .map((p, i) => {
      const h = Math.max(1, (p.value / max) * (H - 30));
      const x = 10 + i * (bw + 3);
      return `<rect class="trend-bar ${esc(p.status)}${p.id === current ? ' current' : ''}" x="${x.toFixed(1)}" y="${(H - 18 - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}"><title>${esc(p.label)}</title></rect>`;
    })
    .join('');
  return `<figure class="chart"><figcaption>${esc(title)} <span class="muted">max ${fmt(Math.round(max * 10) / 10)}</span></figcaption><svg class="trend" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><line x1="8" y1="${H - 18}" x2="${W - 4}" y2="${H - 18}" stroke="#c5ccd6"/>${bars}<text x="10" y="${H - 4}" class="axis">run ${points[0]!.id}</text><text x="${W - 6}" y="${H - 4}" class="axis" text-anchor="end">run ${points[points.length - 1]!.id}</text></svg></figure>`;
}

function badge(status: string): string {
  return `<span class="badge ${esc(status)}">${esc(status)}</span>`;
}

const CSS = `
:root{--fg:#1d2433;--muted:#6b7485;--line:#dde2ea;--ok:#1e8449;--fail:#c0392b;--warn:#b9770e;--q:#d35400;--s:#6c5ce7}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#f7f8fa}
header{padding:18px 28px;background:#fff;border-bottom:4px solid var(--muted)}header.status-success{border-color:var(--ok)}header.status-failed,header.status-interrupted{border-color:var(--fail)}
h1{margin:0 0 4px;font-size:22px}h2{margin:0 0 10px;font-size:18px}h3{font-size:15px;margin:16px 0 6px}
nav{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);padding:6px 28px}nav a{margin-right:16px;color:#2c5aa0;text-decoration:none}
main{padding:16px 28px}section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px;margin:0 0 16px}
.muted{color:var(--muted)}.error{color:var(--fail);white-space:pre-wrap}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:16px}.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:120px}
.card .v{font-size:20px;font-weight:600}.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.rejected .v{color:var(--fail)}.card.quarantined .v{color:var(--q)}.card.superseded .v{color:var(--s)}.card.failed .v{color:var(--fail)}.card.warn .v{color:var(--warn)}
table{border-collapse:collapse;width:100%;margin:4px 0}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}th{font-weight:600;color:var(--muted);font-size:12px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}table.mini{font-size:12px;width:auto}table.mini td{font-family:ui-monospace,Menlo,Consolas,monospace}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}code.raw{white-space:pre-wrap;word-break:break-all}.null{color:var(--muted);font-style:italic}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#e5e8ee}
.badge.success,.badge.pass{background:#d5f0de;color:var(--ok)}.badge.failed,.badge.fail,.badge.error,.badge.interrupted{background:#fadbd8;color:var(--fail)}.badge.warn{background:#fcf0d2;color:var(--warn)}.badge.skipped,.badge.running{background:#eceff3;color:var(--muted)}
.k{font-weight:600}.k.rejected{color:var(--fail)}.k.quarantined,.k.quarantine{color:var(--q)}.k.superseded{color:var(--s)}.k.repair{color:#2c5aa0}.k.flag{color:var(--muted)}
.bar{display:inline-block;width:140px;height:10px;background:#eef1f5;border-radius:5px;overflow:hidden}.bar>span{display:block;height:100%;background:#7f9cc7}.bar.failed>span{background:var(--fail)}
.bar.quarantine>span{background:var(--q)}.bar.superseded>span{background:var(--s)}
details.sample{margin-top:4px}details.sample summary{cursor:pointer;color:#2c5aa0}pre{background:#f3f5f8;padding:8px;overflow:auto}
.scroll{overflow:auto}svg.flow{font:12px system-ui,sans-serif;max-width:100%;height:auto}.flow-edge{fill:none;stroke:#a9b4c6;stroke-opacity:.75}.flow-label{font-weight:600;fill:#1d2433}.flow-rows{fill:#4a5568}
.flow-col{fill:#6b7485;font-size:11px;text-transform:uppercase;letter-spacing:.05em}.flow-exit-label{font-size:11.5px;font-weight:600;fill:#1d2433}
.charts{display:flex;flex-wrap:wrap;gap:18px}.chart{margin:0}.chart figcaption{font-weight:600;font-size:13px;margin-bottom:2px}
.trend-bar{fill:#7f9cc7}.trend-bar.success{fill:#58a96f}.trend-bar.failed,.trend-bar.interrupted{fill:#d9685c}.trend-bar.current{stroke:#1d2433;stroke-width:1.5}.axis{font-size:10px;fill:#6b7485}
footer{color:var(--muted);font-size:12px;padding:0 28px 24px}\n.card.none-loaded .v{color:var(--muted);font-size:16px;line-height:30px}details.test-group{border-top:1px solid var(--line);padding:6px 0}details.test-group>summary{cursor:pointer;padding:2px 0}
`;
