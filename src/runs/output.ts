/**
 * What the pipeline's commands print, in one place: the events of each stage with their readable
 * lines, the live progress lines, and the bronze and models summary tables. The orchestrator
 * (src/pipeline/run-pipeline.ts) and `medallion export` report through `stageOutput`; the logger
 * (logger.ts) decides how each event is written (a line on a terminal, a JSON object otherwise).
 * Event names and fields are what cron, the tests and the fault harness read: they are kept stable.
 *
 * On a terminal the running work is the logger's live region (one line per file loading, model
 * building, test running or table exporting, each with its elapsed time), and what is done is
 * said once, in the summary tables: the per-file and per-model events carry no readable line.
 * Numbers are written one way (`formatCount`: 18,494; `rowsText`: 1 row, 2 rows).
 */
import path from 'node:path';
import type { BronzeLoadResult, BronzeProgress, FileLoadResult, SourceChange } from '../bronze/index.ts';
import type { SchemaNames } from '../config.ts';
import type { ExportProgress, ExportTableResult } from '../export/index.ts';
import type { RuleCountsResult, TestEvent, TestSummary } from '../quality/index.ts';
import type { BuildEvent, BuildResult } from '../transform/index.ts';
import { createStyle, type Logger, type Style } from './logger.ts';
import type { ModelPlanRecord, ModelRecord } from './summary.ts';

/** The reports of one run's stages, written through its logger. */
export interface StageOutput {
  /** The handler of the bronze loader's progress: live lines per file and one event per loaded file. */
  bronzeProgress(): (event: BronzeProgress) => void;
  bronzeLoaded(result: BronzeLoadResult): void;
  /** The run builds nothing: `compared` says what is the same as in the published run `runId`. */
  nothingChanged(runId: number, compared: readonly string[]): void;
  asOf(asOf: string, from: 'option' | 'data'): void;
  /** The models a run keeps as the published run left them (none: it builds every model). */
  modelPlan(plan: readonly ModelPlanRecord[], publishedRunId: number): void;
  modelEvent(event: BuildEvent): void;
  testEvent(event: TestEvent): void;
  modelsBuilt(built: BuildResult, models: readonly ModelRecord[], rules: RuleCountsResult, tests: TestSummary): void;
  publishCommitted(schemas: SchemaNames, exportsVersion: string | null): void;
  publishCarried(object: string): void;
  publishLeftover(schema: string, reason: string): void;
  /** Published: the schemas, and the exports folder unless the export was skipped. */
  published(schemas: SchemaNames, exportsDir: string | null): void;
  publishFinished(runId: number, version: string): void;
  /** Live: the rows and CSV bytes of the table being exported so far (a terminal's line only). */
  exportProgress(progress: ExportProgress): void;
  /** Whether live progress is shown (a terminal): the export samples its progress only then. */
  readonly live: boolean;
  tableExported(table: ExportTableResult, seconds: number): void;
  /** `medallion export`: the published gold it reads and the run that published it. */
  exportSource(goldSchema: string, source: { runId: number; asOf: string | null; inputs: number }, exportsDir: string): void;
  exportTable(table: ExportTableResult, seconds: number): void;
  /** A signal arrived after the commit point; `finished` names what was finished anyway. */
  lateSignal(finished: 'publish' | 'export'): void;
}

export function stageOutput(logger: Logger): StageOutput {
  const s = logger.style;
  const exportLine = (t: ExportTableResult, seconds: number) => {
    const bytes = t.files.reduce((n, f) => n + f.bytes, 0);
    const reused = t.reused > 0 ? `  (${t.reused} unchanged, linked)` : '';
    return `  exported ${t.table.padEnd(18)} ${formatCount(t.rows).padStart(11)} ${t.rows === 1 ? 'row ' : 'rows'}  ${plural(t.files.length, 'file').padStart(8)}  ${formatMegabytes(bytes).padStart(8)} MB  ${seconds.toFixed(2).padStart(7)} s${reused}`;
  };
  return {
    live: logger.live,
    bronzeProgress() {
      const fileStarted = new Map<string, number>();
      return (e) => {
        if (e.kind === 'file-start') {
          fileStarted.set(e.source, performance.now());
          logger.progress(`bronze:${e.source}`, `  loading ${e.source}`);
        } else if (e.kind === 'file-progress') {
          logger.progress(`bronze:${e.source}`, bronzeProgressLine(e.source, e.bytesRead, e.bytes, e.records, performance.now() - (fileStarted.get(e.source) ?? 0)));
        } else if (e.kind === 'file-kept') {
          const r = e.result;
          logger.event('bronze_file_kept', { source: r.source, sha256: r.sha256, kept_from_run: r.keptFromRun, rows: r.rowsLoaded });
        } else {
          const r = e.result;
          logger.progressDone(`bronze:${r.source}`);
          logger.event('bronze_file_loaded', { source: r.source, records: r.records, rows: r.rowsLoaded, rejects: r.rejects, seconds: r.seconds });
        }
      };
    },
    bronzeLoaded(result) {
      logger.block('bronze_summary', bronzeSummary(result, s), {
        files: result.files.map(({ source, records, rowsLoaded, rejects, bytes, seconds, lines, reusedLines }) => ({ source, records, rowsLoaded, rejects, bytes, seconds, ...(reusedLines !== undefined ? { appendedLines: lines - reusedLines, reusedLines } : {}) })),
        changes: result.changes.map((c) => ({ source: c.source, status: c.status, from_sha256: c.fromSha256, to_sha256: c.toSha256, added: c.added, changed: c.changed, removed: c.removed, moved: c.moved })),
      });
    },
    nothingChanged(runId, compared) {
      logger.event('nothing_changed', { deferred_to: runId, compared }, `nothing changed since run ${runId}: ${compared.join(', ')}`);
    },
    modelPlan(plan, publishedRunId) {
      const built = plan.filter((d) => d.action === 'build');
      const updated = plan.filter((d) => d.action === 'update');
      const kept = plan.length - built.length - updated.length;
      // the models built for a reason of their own, not only because they read a built one
      const causes = built.filter((d) => d.reads_built === undefined);
      const named = causes.slice(0, 3).map((d) => `${d.model}: ${d.reason}`).join('; ');
      const more = causes.length > 3 ? `; ${causes.length - 3} more` : '';
      const updating = updated.length ? `; updating ${updated.map((d) => d.model).join(', ')} by partition` : '';
      const text = `building ${built.length} of ${plan.length} models (${named}${more}${built.length > causes.length ? '; and what reads them' : ''})${updating}; ${kept} kept as run ${publishedRunId} published them`;
      logger.event('model_plan', { built: built.map((d) => d.model), updated: updated.map((d) => d.model), kept, deferred_to: publishedRunId, reasons: Object.fromEntries([...built, ...updated].map((d) => [d.model, d.reason])) }, text);
    },
    asOf(asOf, from) {
      logger.event('as_of', { as_of: asOf, source: from }, `\nas_of: ${s.bold(asOf)}${from === 'option' ? '' : ' (day after the latest valid order date)'}`);
    },
    modelEvent(e) {
      if (e.type === 'model_started') logger.progress(`model:${e.model}`, `  building ${e.model} ${s.dim(`(${e.materialized})`)}`);
      else if (e.type === 'model_built') {
        logger.progressDone(`model:${e.model}`);
        if (e.update) {
          const u = e.update;
          logger.event('model_updated', { model: e.model, partition_by: u.column, partitions: u.partitions, rows: u.rows, seconds: e.seconds }, `  updated ${e.model}: ${u.partitions.toLocaleString('en-US')} ${u.column} partitions, ${u.rows.toLocaleString('en-US')} rows`);
        } else {
          logger.event('model_built', { model: e.model, rows: e.rows, seconds: e.seconds });
          if (e.builtWholeBecause !== undefined) logger.event('model_built_whole', { model: e.model, reason: e.builtWholeBecause }, `  built ${e.model} whole: ${e.builtWholeBecause}`);
        }
      } else if (e.type === 'model_failed') logger.progressDone(`model:${e.model}`);
      else if (e.type === 'warning') logger.event('model_warning', { model: e.model, file: e.file, message: e.message }, s.yellow(`  warning: ${e.model}: ${e.message}`));
    },
    testEvent(e) {
      if (e.type === 'test_started') logger.progress(`test:${e.test}`, `  testing ${e.test}`);
      else logger.progressDone(`test:${e.result.name}`);
    },
    modelsBuilt(built, models, rules, tests) {
      logger.block('models_summary', modelsSummary(built, rules, tests, models, s), {
        models,
        tests: tests.counts,
        rule_counts: rules.relations,
        failing: tests.results.filter((t) => t.status !== 'pass').map((t) => ({ test: t.name, status: t.status, failing_rows: t.failingRows })),
      });
    },
    publishCommitted(schemas, exportsVersion) {
      logger.event('publish_committed', { exports_version: exportsVersion }, `  committed: ${schemas.silver} and ${schemas.gold} published`);
    },
    publishCarried(object) {
      logger.event('publish_carried', { object }, `  kept your ${object} on the new version`);
    },
    publishLeftover(schema, reason) {
      logger.event('publish_leftover', { schema, reason }, s.yellow(`  warning: ${schema} is kept: ${reason}`));
    },
    published(schemas, exportsDir) {
      if (exportsDir === null) {
        logger.event('published', { schemas: [schemas.silver, schemas.gold] }, `published ${schemas.silver} and ${schemas.gold} (exports skipped)`);
      } else {
        logger.event('published', { schemas: [schemas.silver, schemas.gold], exports: exportsDir }, `published ${schemas.silver}, ${schemas.gold} and ${displayPath(exportsDir)}/`);
      }
    },
    publishFinished(runId, version) {
      logger.event('publish_finished', { published_run_id: runId, version }, `finished publishing the exports of run ${runId}, which stopped after its commit`);
    },
    exportProgress(p) {
      logger.progress(`export:${p.table}`, exportProgressLine(p));
    },
    tableExported(r, seconds) {
      logger.progressDone(`export:${r.table}`);
      logger.event('table_exported', { table: r.table, rows: r.rows, files: r.files.length, reused: r.reused, seconds }, exportLine(r, seconds));
    },
    exportSource(goldSchema, source, exportsDir) {
      logger.event('export_source', { source_run_id: source.runId, as_of: source.asOf, inputs: source.inputs },
        `exporting ${goldSchema} as published by run ${source.runId} (as_of ${source.asOf ?? 'unknown'}) to ${displayPath(exportsDir)}/`);
    },
    exportTable(t, seconds) {
      logger.progressDone(`export:${t.table}`);
      const bytes = t.files.reduce((n, f) => n + f.bytes, 0);
      logger.event('export_table', { table: t.table, rows: t.rows, files: t.files.length, reused: t.reused, bytes, seconds }, exportLine(t, seconds));
    },
    lateSignal(finished) {
      logger.event('late_signal', {}, s.yellow(`  a signal arrived after the commit point: the ${finished} was finished`));
    },
  };
}

/** The bronze table: per file its lines, records, loaded and rejected rows, size, time and rate. */
export function bronzeSummary(result: BronzeLoadResult, s: Style = createStyle(false)): string {
  const rows: Cell[][] = result.files.map((f) => [
    f.source,
    f.lines,
    f.records,
    f.rowsLoaded,
    f.rejects,
    decimals(f.bytes / 1e6, 2),
    f.keptFromRun === undefined ? decimals(f.seconds, 2) : `kept`,
    f.keptFromRun === undefined ? Math.round(f.records / Math.max(f.seconds, 1e-6)) : null,
  ]);
  const total = result.files.reduce(
    (t, f) => ({ lines: t.lines + f.lines, records: t.records + f.records, rows: t.rows + f.rowsLoaded, rejects: t.rejects + f.rejects, bytes: t.bytes + f.bytes }),
    { lines: 0, records: 0, rows: 0, rejects: 0, bytes: 0 },
  );
  rows.push(['total', total.lines, total.records, total.rows, total.rejects, decimals(total.bytes / 1e6, 2), decimals(result.seconds, 2), Math.round(total.records / Math.max(result.seconds, 1e-6))]);
  // One line per source that is new or changed; the unchanged ones named together.
  const unchanged = result.changes.filter((c) => changeText(c) === 'unchanged').map((c) => c.source);
  const changes = [...result.changes.filter((c) => changeText(c) !== 'unchanged').map((c) => `${c.source}: ${changeText(c)}${appendedText(result.files.find((f) => f.source === c.source))}`), ...(unchanged.length ? [`unchanged: ${unchanged.join(', ')}`] : [])].join('\n');
  return `\n${s.bold('bronze')}\n${formatTable(['source', 'lines', 'records', 'loaded', 'rejected', 'MB', 'seconds', 'rows/s'], rows)}${changes ? `\n\n${changes}` : ''}`;
}

/** A file of which only the tail was loaded (src/bronze/append.ts): ` (5,612 lines appended to 6,012,345 kept)`. */
function appendedText(f: FileLoadResult | undefined): string {
  if (f?.reusedLines === undefined) return '';
  return ` (${formatCount(f.lines - f.reusedLines)} lines appended to ${formatCount(f.reusedLines)} kept)`;
}

/**
 * What a load did to one source, as the bronze summary says it: `5,512 added, 3 changed, 0 removed`
 * (keys; `, 12 moved` when rows equal by value moved to other lines), `unchanged`, or `new`.
 */
export function changeText(c: SourceChange): string {
  if (c.status === 'new') return 'new';
  if (c.status === 'unchanged' && !c.added && !c.changed && !c.removed && !c.moved) return 'unchanged';
  const moved = c.moved ? `, ${formatCount(c.moved)} moved` : '';
  return `${formatCount(c.added ?? 0)} added, ${formatCount(c.changed ?? 0)} changed, ${formatCount(c.removed ?? 0)} removed${moved}`;
}

/**
 * The silver + gold tables: rows and seconds per model in the graph's order (a model after the
 * models it reads; ties by name), the rules that changed rows and the failing tests in the same
 * order. A view has no row count: its rows cell is empty.
 */
export function modelsSummary(built: BuildResult, rules: RuleCountsResult, tests: TestSummary, records?: readonly ModelRecord[], s: Style = createStyle(false)): string {
  const order = graphOrder(records ?? built.models.map((m) => ({ model: m.model })));
  const rank = (model: string) => order.get(model) ?? Number.MAX_SAFE_INTEGER;
  const byGraph = <T>(items: readonly T[], model: (t: T) => string, name: (t: T) => string) =>
    [...items].sort((a, b) => rank(model(a)) - rank(model(b)) || name(a).localeCompare(name(b)));
  const models = formatTable(
    ['model', 'materialized', 'rows', 'seconds'],
    byGraph(built.models, (m) => m.model, (m) => m.model).map((m) => [m.model, m.materialized, m.rows, decimals(m.seconds, 2)]),
    ['left', 'left', 'right', 'right'],
  );
  const changed = byGraph(rules.counts.filter((r) => r.rows > 0), (r) => r.model, (r) => r.rule);
  const ruleTable = changed.length
    ? formatTable(['model', 'rule', 'kind', 'rows'], changed.map((r) => [r.model, r.rule, r.kind, r.rows]))
    : '(no rule changed a row)';
  const failing = byGraph(tests.results.filter((t) => t.status !== 'pass'), (t) => t.model, (t) => t.name);
  const failed = (tests.counts.fail ?? 0) + (tests.counts.error ?? 0);
  const warned = tests.counts.warn ?? 0;
  const testLine = `tests: ${formatCount(tests.counts.pass ?? 0)} passed, ${formatCount(warned)} warned, ${formatCount(failed)} failed`;
  const failingTable = failing.length
    ? `\n${formatTable(['test', 'model', 'severity', 'status', 'failing rows'], failing.map((t) => [t.name, t.model, t.severity, t.status, t.failingRows]))}`
    : '';
  const paintedTests = failed ? s.red(testLine) : warned ? s.yellow(testLine) : s.green(testLine);
  return `\n${s.bold('silver + gold')}\n${models}\n\n${s.bold('rules that changed rows')}\n${ruleTable}\n\n${paintedTests}${failingTable}`;
}

/**
 * Each model's place in the graph: models in dependency order (a model after those it reads
 * among `records`), ties broken by name, so the order does not depend on which connection
 * finished first.
 */
export function graphOrder(records: readonly { model: string; depends_on?: readonly string[] }[]): Map<string, number> {
  const names = new Set(records.map((r) => r.model));
  const deps = new Map(records.map((r) => [r.model, (r.depends_on ?? []).filter((d) => names.has(d) && d !== r.model)]));
  const order = new Map<string, number>();
  const pending = [...names].sort();
  while (pending.length) {
    const i = pending.findIndex((m) => deps.get(m)!.every((d) => order.has(d)));
    // A cycle cannot be built; should one reach here, the rest keep their name order.
    const next = pending.splice(Math.max(i, 0), 1)[0]!;
    order.set(next, order.size);
  }
  return order;
}

/** The live line of the table being exported on a terminal: its name alone until Postgres has sent rows. */
export function exportProgressLine(p: ExportProgress): string {
  if (p.rows === 0 && p.bytes === 0) return `  exporting ${p.table}`;
  const rate = p.bytes / 1e6 / Math.max(p.seconds, 1e-3);
  return `  exporting ${p.table}: ${rowsText(p.rows)}, ${formatMegabytes(p.bytes)} MB of CSV, ${rate.toFixed(1)} MB/s`;
}

/** The live line of one file of the bronze load on a terminal. */
export function bronzeProgressLine(source: string, bytesRead: number, bytes: number, records: number, elapsedMs: number): string {
  const rate = bytesRead / 1e6 / Math.max(elapsedMs / 1000, 1e-3);
  const eta = rate > 0 ? (bytes - bytesRead) / 1e6 / rate : 0;
  const pct = bytes > 0 ? Math.min(100, Math.floor((bytesRead / bytes) * 100)) : 100;
  return `  loading ${source.padEnd(14)} ${String(pct).padStart(3)}%  ${formatMegabytes(bytesRead)}/${formatMegabytes(bytes)} MB  ${rate.toFixed(1)} MB/s  ${plural(records, 'record')}  ETA ${Math.ceil(eta)} s`;
}

/** A table cell: a count (written with thousands separators), text, or null (empty). */
export type Cell = string | number | null;

/**
 * A fixed-width text table. A column is right-aligned when `align` says so, or when every cell
 * of it is a number, a number already written as text (`decimals`) or empty. Integers get thousands separators; other numbers two decimals.
 */
export function formatTable(headers: string[], rows: Cell[][], align?: readonly ('left' | 'right')[]): string {
  const text = (c: Cell) => (c === null ? '' : typeof c === 'number' ? formatNumber(c) : c);
  const cells = [headers, ...rows.map((r) => r.map(text))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const numeric = (c: Cell) => c === null || typeof c === 'number' || /^-?[\d,]+(\.\d+)?$/.test(c);
  const right = headers.map((_, i) => (align ? align[i] === 'right' : rows.every((r) => numeric(r[i] ?? null))));
  const line = (r: string[]) => r.map((c, i) => (right[i] ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** A number with a fixed count of decimals, kept as text so that the table does not reformat it. */
function decimals(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? formatCount(n) : decimals(n, 2);
}

/** A count as every readable line writes it: 18,494. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 0 });
}

/** `1 row`, `2 rows`, `18,494 rows`. */
export function rowsText(n: number): string {
  return plural(n, 'row');
}

function plural(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

function formatMegabytes(bytes: number): string {
  return decimals(bytes / 1e6, 1);
}

/** A folder as a person wants to read it: relative to the working folder when inside it. */
function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel === '' ? '.' : rel.startsWith('..') ? p : rel;
}
