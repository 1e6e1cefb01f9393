/**
 * What the pipeline's commands print, in one place: the events of each stage with their readable
 * lines, the live progress lines, and the bronze and models summary tables. The orchestrator
 * (src/pipeline/run-pipeline.ts) and `medallion export` report through `stageOutput`; the logger
 * (logger.ts) decides how each event is written (a line on a terminal, a JSON object otherwise).
 * Event names and fields are what cron, the tests and the fault harness read: they are kept stable.
 */
import path from 'node:path';
import type { BronzeLoadResult, BronzeProgress } from '../bronze/index.ts';
import type { SchemaNames } from '../config.ts';
import type { ExportTableResult } from '../export/index.ts';
import type { RuleCountsResult, TestEvent, TestSummary } from '../quality/index.ts';
import type { BuildEvent, BuildResult } from '../transform/index.ts';
import type { Logger } from './logger.ts';
import type { ModelRecord } from './summary.ts';

/** The reports of one run's stages, written through its logger. */
export interface StageOutput {
  /** The handler of the bronze loader's progress: live lines per file and one event per loaded file. */
  bronzeProgress(): (event: BronzeProgress) => void;
  bronzeLoaded(result: BronzeLoadResult): void;
  asOf(asOf: string, from: 'option' | 'data'): void;
  modelEvent(event: BuildEvent): void;
  testEvent(event: TestEvent): void;
  modelsBuilt(built: BuildResult, models: readonly ModelRecord[], rules: RuleCountsResult, tests: TestSummary): void;
  publishCommitted(schemas: SchemaNames, exportsVersion: string | null): void;
  publishCarried(object: string): void;
  publishLeftover(schema: string, reason: string): void;
  /** Published: the schemas, and the exports folder unless the export was skipped. */
  published(schemas: SchemaNames, exportsDir: string | null): void;
  publishFinished(runId: number, version: string): void;
  exportProgress(table: string, rows: number): void;
  tableExported(table: ExportTableResult, seconds: number): void;
  /** `medallion export`: the published gold it reads and the run that published it. */
  exportSource(goldSchema: string, source: { runId: number; asOf: string | null; inputs: number }, exportsDir: string): void;
  exportTable(table: ExportTableResult, seconds: number): void;
  /** A signal arrived after the commit point; `finished` names what was finished anyway. */
  lateSignal(finished: 'publish' | 'export'): void;
}

export function stageOutput(logger: Logger): StageOutput {
  return {
    bronzeProgress() {
      const fileStarted = new Map<string, number>();
      // One live line for the files loading at the same time (one per connection).
      const loading = new Map<string, string>();
      return (e) => {
        if (e.kind === 'file-start') fileStarted.set(e.source, performance.now());
        else if (e.kind === 'file-progress') {
          loading.set(e.source, bronzeProgressLine(e.source, e.bytesRead, e.bytes, e.records, performance.now() - (fileStarted.get(e.source) ?? 0)));
          logger.progress([...loading.values()].join('  |'));
        } else {
          const r = e.result;
          loading.delete(r.source);
          logger.event('bronze_file_loaded', { source: r.source, records: r.records, rows: r.rowsLoaded, rejects: r.rejects, seconds: r.seconds }, `  ${r.source}: ${r.rowsLoaded} rows, ${r.rejects} rejected, ${r.seconds.toFixed(2)} s`);
        }
      };
    },
    bronzeLoaded(result) {
      logger.block('bronze_summary', bronzeSummary(result), {
        files: result.files.map(({ source, records, rowsLoaded, rejects, bytes, seconds }) => ({ source, records, rowsLoaded, rejects, bytes, seconds })),
      });
    },
    asOf(asOf, from) {
      logger.event('as_of', { as_of: asOf, source: from }, `as_of: ${asOf}${from === 'option' ? '' : ' (day after the latest valid order date)'}`);
    },
    modelEvent(e) {
      if (e.type === 'model_started') logger.progress(`  building ${e.model} (${e.materialized}) ...`);
      else if (e.type === 'model_built') logger.event('model_built', { model: e.model, rows: e.rows, seconds: e.seconds }, `  ${e.model}: ${e.rows ?? '(view)'} rows, ${e.seconds.toFixed(2)} s`);
      else if (e.type === 'warning') logger.event('model_warning', { model: e.model, file: e.file, message: e.message }, `  warning: ${e.model}: ${e.message}`);
    },
    testEvent(e) {
      if (e.type === 'test_started') logger.progress(`  testing ${e.test} ...`);
    },
    modelsBuilt(built, models, rules, tests) {
      logger.block('models_summary', modelsSummary(built, rules, tests), {
        models,
        tests: tests.counts,
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
      logger.event('publish_leftover', { schema, reason }, `  warning: ${schema} is kept: ${reason}`);
    },
    published(schemas, exportsDir) {
      if (exportsDir === null) {
        logger.event('published', { schemas: [schemas.silver, schemas.gold] }, `published ${schemas.silver} and ${schemas.gold} (exports skipped)`);
      } else {
        logger.event('published', { schemas: [schemas.silver, schemas.gold], exports: exportsDir }, `published ${schemas.silver}, ${schemas.gold} and ${path.relative(process.cwd(), exportsDir) || '.'}/`);
      }
    },
    publishFinished(runId, version) {
      logger.event('publish_finished', { published_run_id: runId, version }, `finished publishing the exports of run ${runId}, which stopped after its commit`);
    },
    exportProgress(table, rows) {
      logger.progress(`  exporting ${table}: ${rows.toLocaleString('en-US')} rows`);
    },
    tableExported(r, seconds) {
      logger.event('table_exported', { table: r.table, rows: r.rows, files: r.files.length, seconds }, `  exported ${r.table}: ${r.rows} rows, ${r.files.length} file(s), ${seconds.toFixed(2)} s`);
    },
    exportSource(goldSchema, source, exportsDir) {
      logger.event('export_source', { source_run_id: source.runId, as_of: source.asOf, inputs: source.inputs },
        `exporting ${goldSchema} as published by run ${source.runId} (as_of ${source.asOf ?? 'unknown'}) to ${exportsDir}`);
    },
    exportTable(t, seconds) {
      const bytes = t.files.reduce((n, f) => n + f.bytes, 0);
      logger.event('export_table', { table: t.table, rows: t.rows, files: t.files.length, bytes, seconds },
        `  ${t.table.padEnd(18)} ${String(t.rows).padStart(10)} rows  ${t.files.length} file(s)  ${(bytes / 1e6).toFixed(1)} MB  ${seconds.toFixed(1)} s`);
    },
    lateSignal(finished) {
      logger.event('late_signal', {}, `  a signal arrived after the commit point: the ${finished} was finished`);
    },
  };
}

/** The bronze table: per file its lines, records, loaded and rejected rows, size, time and rate. */
export function bronzeSummary(result: BronzeLoadResult): string {
  const rows = result.files.map((f) => [
    f.source,
    f.lines,
    f.records,
    f.rowsLoaded,
    f.rejects,
    Number((f.bytes / 1e6).toFixed(2)),
    Number(f.seconds.toFixed(2)),
    Math.round(f.records / Math.max(f.seconds, 1e-6)),
  ]);
  const total = result.files.reduce(
    (t, f) => ({ lines: t.lines + f.lines, records: t.records + f.records, rows: t.rows + f.rowsLoaded, rejects: t.rejects + f.rejects, bytes: t.bytes + f.bytes }),
    { lines: 0, records: 0, rows: 0, rejects: 0, bytes: 0 },
  );
  rows.push(['total', total.lines, total.records, total.rows, total.rejects, Number((total.bytes / 1e6).toFixed(2)), Number(result.seconds.toFixed(2)), Math.round(total.records / Math.max(result.seconds, 1e-6))]);
  return `\nbronze\n${formatTable(['source', 'lines', 'records', 'loaded', 'rejected', 'MB', 'seconds', 'rows/s'], rows)}`;
}

/** The silver + gold tables: rows and seconds per model, the rules that changed rows, the tests. */
export function modelsSummary(built: BuildResult, rules: RuleCountsResult, tests: TestSummary): string {
  const models = formatTable(
    ['model', 'materialized', 'rows', 'seconds'],
    built.models.map((m) => [m.model, m.materialized, m.rows ?? '(view)', Number(m.seconds.toFixed(2))]),
  );
  const changed = rules.counts.filter((r) => r.rows > 0);
  const ruleTable = changed.length
    ? formatTable(['model', 'rule', 'kind', 'rows'], changed.map((r) => [r.model, r.rule, r.kind, r.rows]))
    : '(no rule changed a row)';
  const failing = tests.results.filter((t) => t.status !== 'pass');
  const testLine = `tests: ${tests.counts.pass ?? 0} passed, ${tests.counts.warn ?? 0} warned, ${(tests.counts.fail ?? 0) + (tests.counts.error ?? 0)} failed`;
  const failingTable = failing.length
    ? `\n${formatTable(['test', 'model', 'severity', 'status', 'failing rows'], failing.map((t) => [t.name, t.model, t.severity, t.status, t.failingRows]))}`
    : '';
  return `\nsilver + gold\n${models}\n\nrules that changed rows\n${ruleTable}\n\n${testLine}${failingTable}`;
}

/** The live line of one file of the bronze load on a terminal. */
export function bronzeProgressLine(source: string, bytesRead: number, bytes: number, records: number, elapsedMs: number): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const rate = bytesRead / 1e6 / Math.max(elapsedMs / 1000, 1e-3);
  const eta = rate > 0 ? (bytes - bytesRead) / 1e6 / rate : 0;
  const pct = bytes > 0 ? Math.min(100, Math.floor((bytesRead / bytes) * 100)) : 100;
  return `  ${source.padEnd(14)} ${String(pct).padStart(3)}%  ${mb(bytesRead)}/${mb(bytes)} MB  ${rate.toFixed(1)} MB/s  ${records.toLocaleString('en-US')} records  ETA ${Math.ceil(eta)} s`;
}

/** A fixed-width text table; numbers right-aligned. */
export function formatTable(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === 'number'));
  const line = (r: (string | number)[]) => r.map((c, i) => (numeric[i] ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n.toFixed(n < 10 ? 2 : 1);
}
