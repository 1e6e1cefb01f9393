/**
 * `medallion build` end to end, as one run: bronze → as_of → silver + gold, their data tests and
 * rule counts (staging; each test and count runs once the models it reads are built) → the rule
 * counts and quarantine written to the ledger → Parquet export from staging → publish. Each stage lives in its own folder; this file only
 * sequences them and reports.
 *
 * The order makes a failed run change nothing that readers see: gold is built and tested in the
 * `_next` schemas, the Parquet files are written from there into a temporary folder, and only then
 * are the schemas renamed into place (one short transaction) and the folder swapped in.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type BronzeLoadResult, loadBronze } from '../bronze/load.ts';
import type { PipelineConfig } from '../config.ts';
import { type Client, connect, ident } from '../db/client.ts';
import { DataError } from '../errors.ts';
import { exportEntryNames, exportGold, type ExportGoldResult, finishCommittedExport, GOLD_EXPORTS, type InputFile, openExportsDir } from '../export/index.ts';
import { assertTestsPassed, planRuleCounts, planTests, type RuleCountsResult, type TestSummary } from '../quality/index.ts';
import { lastCommittedExport, lastTimings, recordAsOf, recordPublication } from '../runs/ledger.ts';
import { assertLockHeldInTransaction } from '../runs/lock.ts';
import { formatTable, type Logger } from '../runs/logger.ts';
import { executeRun, type RunContext, type RunOutcome } from '../runs/run.ts';
import { type BuildResult, bronzeMegabytes, buildModels, compileSql, estimateFromSizes, loadProject, measuredElseGuessed, dropPreviousVersions, type Grants, type Project, publishModels, stagingSchemas } from '../transform/index.ts';

/** bronze: load only · transform: models from the current bronze · all: everything. */
export type BuildScope = 'bronze' | 'transform' | 'all';

export async function runBuild(config: PipelineConfig, scope: BuildScope, logger: Logger, signal: AbortSignal): Promise<RunOutcome> {
  const command = scope === 'bronze' ? 'load' : scope === 'transform' ? 'transform' : 'build';
  // The output folder is checked before anything runs: a folder that is not ours, a file, or an
  // unwritable place is a usage error (exit 2) found in a second, not after the whole build.
  if (scope !== 'bronze' && !config.export.skip) await openExportsDir(config.exportsDir, exportEntryNames(GOLD_EXPORTS, 'fact_sales'));
  return executeRun(config, command, logger, signal, async (ctx) => {
    await finishInterruptedPublish(ctx);
    // The models are read and checked first: a broken .sql or .yml fails before anything is loaded.
    const project = scope === 'bronze' ? null : await loadProject({ sqlDir: config.sqlDir });
    let inputFiles: InputFile[];
    if (scope === 'transform') {
      inputFiles = await lastLoadedFiles(ctx);
    } else {
      const bronze = await ctx.stage('bronze', () => bronzeStage(ctx), (r) => r.files.reduce((n, f) => n + f.rowsLoaded, 0));
      ctx.summary.bronze = bronze.files;
      logger.block('bronze_summary', bronzeSummary(bronze), { files: bronze.files.map(({ source, records, rowsLoaded, rejects, bytes, seconds }) => ({ source, records, rowsLoaded, rejects, bytes, seconds })) });
      inputFiles = bronze.files.map((f) => ({ file: f.file, sha256: f.sha256, bytes: f.bytes }));
    }
    if (project) {
      // The source files this gold is built from: `medallion export` reads them back from here.
      ctx.summary.inputs = inputFiles;
      await modelsStage(ctx, project, inputFiles);
    }
  });
}

async function modelsStage(ctx: RunContext, project: Project, inputFiles: InputFile[]): Promise<void> {
  const { config, logger } = ctx;
  const asOf = config.asOf ?? (await defaultAsOf(ctx));
  await recordAsOf(ctx.ledger, config.schemas, ctx.runId, asOf);
  ctx.summary.as_of = asOf;
  logger.event('as_of', { as_of: asOf, source: config.asOf ? 'option' : 'data' }, `as_of: ${asOf}${config.asOf ? '' : ' (day after the latest valid order date)'}`);

  // More connections for the models and the tests: independent models are built at the same time.
  await withParallelConnections(ctx, config.jobs - 1, (parallel) => buildTestAndPublish(ctx, project, inputFiles, asOf, parallel));
}

/**
 * Opens `count` connections beside the work connection for the duration of `fn`. An interrupted run
 * ends them like the work connection (the server then cancels their statements); they are closed
 * when `fn` settles.
 */
async function withParallelConnections<T>(ctx: RunContext, count: number, fn: (clients: Client[]) => Promise<T>): Promise<T> {
  const clients: Client[] = [];
  const closeAll = () => Promise.all(clients.map((c) => c.end().catch(() => {})));
  const onAbort = () => void closeAll();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (let i = 0; i < count; i++) clients.push(await connect(ctx.config.connection, `medallion-work-${i + 2}`));
    return await fn(clients);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await closeAll();
  }
}

async function buildTestAndPublish(ctx: RunContext, project: Project, inputFiles: InputFile[], asOf: string, parallel: Client[]): Promise<void> {
  const { config, logger, work } = ctx;
  // One stage, one schedule: each data test and rule count runs as soon as the models it reads are
  // built (dbt's `build`), on whichever connection is free, so the tests of the early models overlap the long
  // models at the end of the graph. Nothing is published before every test has run. The last run's
  // timings order the schedule: the longest remaining chain of models and tests starts first. A
  // model or test that no run has timed yet gets a guess from the size of the bronze data it reads.
  const measured = await lastTimings(ctx.ledger, config.schemas);
  const guessed = estimateFromSizes(project, await bronzeMegabytes(work, config.schemas, project));
  const timings = { models: measuredElseGuessed(measured.models, guessed.models), tests: measuredElseGuessed(measured.tests, guessed.tests) };
  const modelTasks = new Set(project.models.map((m) => m.name));
  const testing = planTests({
    ledger: ctx.ledger,
    schemas: config.schemas,
    project,
    runId: ctx.runId,
    modelTasks,
    estimates: timings.tests,
    onEvent: (e) => {
      if (e.type === 'test_started') logger.progress(`  testing ${e.test} ...`);
    },
  });
  const ruling = planRuleCounts({ ledger: ctx.ledger, schemas: config.schemas, project, runId: ctx.runId, modelTasks });
  const built: BuildResult = await ctx.stage(
    'models_and_tests',
    () =>
      buildModels({
        client: work,
        parallelClients: parallel,
        schemas: config.schemas,
        project,
        asOf,
        runId: ctx.runId,
        signal: ctx.signal,
        alongside: [...testing.tasks, ...ruling.tasks],
        estimates: timings.models,
        onEvent: (e) => {
          if (e.type === 'model_started') logger.progress(`  building ${e.model} (${e.materialized}) ...`);
          else if (e.type === 'model_built') logger.event('model_built', { model: e.model, rows: e.rows, seconds: e.seconds }, `  ${e.model}: ${e.rows ?? '(view)'} rows, ${e.seconds.toFixed(2)} s`);
          else if (e.type === 'warning') logger.event('model_warning', { model: e.model, file: e.file, message: e.message }, `  warning: ${e.model}: ${e.message}`);
        },
      }),
    (r) => r.models.reduce((n, m) => n + (m.rows ?? 0), 0),
  );
  ctx.summary.models = built.models.map((m) => ({ model: m.model, status: 'success', seconds: m.seconds, rows: m.rows, materialized: m.materialized }));
  const tests: TestSummary = testing.summary();
  ctx.summary.tests = tests.counts;

  const rules: RuleCountsResult = await ctx.stage('rules', () => ruling.record());
  ctx.summary.rules = rules.counts;
  ctx.summary.quarantined = rules.quarantined;

  logger.block('models_summary', modelsSummary(built, rules, tests), { models: ctx.summary.models, tests: tests.counts, failing: tests.results.filter((t) => t.status !== 'pass').map((t) => ({ test: t.name, status: t.status, failing_rows: t.failingRows })) });
  assertTestsPassed(tests);

  const grants = declaredGrants(project);
  // The commit point: one transaction on the connection that holds the target's lock renames the
  // schemas, checks the lock is still ours and records the publication (with the export version
  // that goes with it) in the ledger.
  const publish = (exportsVersion: string | null) =>
    ctx.stage('publish', async () => {
      const result = await publishModels(ctx.ledger, config.schemas, {
        prevSuffix: String(ctx.runId),
        grants,
        signal: ctx.signal,
        dropPrevious: false,
        mode: config.publishMode,
        insideTransaction: async (tx) => {
          await assertLockHeldInTransaction(tx, config.target);
          await recordPublication(tx, config.schemas, ctx.runId, exportsVersion, inputFiles);
        },
      });
      ctx.published = true;
      logger.event('publish_committed', { exports_version: exportsVersion }, `  committed: ${config.schemas.silver} and ${config.schemas.gold} published`);
      for (const c of result.carried) logger.event('publish_carried', { object: c }, `  kept your ${c} on the new version`);
      kept = result.kept;
      return result;
    });
  let kept: ReadonlyMap<string, string> = new Map();
  // After the commit point and after both halves are published: the previous versions go.
  const dropPrevious = async () => {
    for (const l of await dropPreviousVersions(ctx.ledger, config.schemas, { kept, signal: ctx.signal })) {
      logger.event('publish_leftover', { schema: l.schema, reason: l.reason }, `  warning: ${l.schema} is kept: ${l.reason}`);
    }
  };
  if (config.export.skip) {
    await publish(null);
    await dropPrevious();
    logger.event('published', { schemas: [config.schemas.silver, config.schemas.gold] }, `published ${config.schemas.silver} and ${config.schemas.gold} (exports skipped)`);
    return;
  }
  // Export from the tested staging schema into a sealed version of the output folder; the
  // database publish is the commit point that makes both current, and the folder follows it.
  const exported: ExportGoldResult = await ctx.stage('export', () =>
    exportGold({
      connection: config.connection,
      schemas: { gold: stagingSchemas(config.schemas).gold },
      publishedGoldSchema: config.schemas.gold,
      exportsDir: config.exportsDir,
      runId: ctx.runId,
      asOf,
      inputFiles,
      rowGroupSize: config.export.rowGroupSize,
      compression: config.export.compression,
      partitionBy: config.export.partitionBy,
      signal: ctx.signal,
      onRows: (table, rows) => logger.progress(`  exporting ${table}: ${rows.toLocaleString('en-US')} rows`),
      onTable: (r, seconds) => logger.event('table_exported', { table: r.table, rows: r.rows, files: r.files.length, seconds }, `  exported ${r.table}: ${r.rows} rows, ${r.files.length} file(s), ${seconds.toFixed(2)} s`),
      commit: async (versionPath) => {
        await publish(versionPath);
      },
      onLateSignal: () => logger.event('late_signal', {}, '  a signal arrived after the commit point: the publish was finished'),
    }),
  );
  await dropPrevious();
  ctx.summary.exports = Object.entries(exported.manifest.tables).map(([table, t]) => ({ table, rows: t.rows, files: t.files.map((f) => ({ path: f.path, bytes: f.bytes })) }));
  logger.event('published', { schemas: [config.schemas.silver, config.schemas.gold], exports: exported.exportsDir }, `published ${config.schemas.silver}, ${config.schemas.gold} and ${path.relative(process.cwd(), exported.exportsDir) || '.'}/`);
}

/**
 * A run that committed its publish but died before its export folder followed (kill -9, power
 * loss): the ledger names the committed version, and this run, now holding the lock, finishes
 * the switch before doing anything else.
 */
async function finishInterruptedPublish(ctx: RunContext): Promise<void> {
  const committed = await lastCommittedExport(ctx.ledger, ctx.config.schemas);
  if (committed && (await finishCommittedExport(committed.path))) {
    ctx.logger.event('publish_finished', { run_id: committed.runId, version: committed.path }, `finished publishing the exports of run ${committed.runId}, which stopped after its commit`);
  }
}

/** The `grants:` the models declare, by relation. */
function declaredGrants(project: Project): Map<string, Grants> {
  return new Map(project.models.filter((m) => m.grants).map((m) => [m.name, m.grants!]));
}

/** The default as_of: sql/run/default_as_of.sql against this run's bronze. */
async function defaultAsOf(ctx: RunContext): Promise<string> {
  const file = path.join(ctx.config.sqlDir, 'run', 'default_as_of.sql');
  const sql = compileSql(await readFile(file, 'utf8'), ctx.config.schemas).sql;
  const { rows } = await ctx.work.query<{ as_of: Date | string | null }>(`select (as_of)::text as as_of from (${sql.replace(/;\s*$/, '')}) d`);
  const asOf = rows[0]?.as_of;
  if (!asOf) {
    throw new DataError('RECONCILIATION_FAILED', 'no sales line has a usable order date, so there is no default as_of date', {
      file,
      hint: 'Check sales_details.csv, or give the run date with --as-of YYYY-MM-DD.',
    });
  }
  return String(asOf);
}

/** For `medallion transform`: the source files of the run that loaded the current bronze. */
async function lastLoadedFiles(ctx: RunContext): Promise<InputFile[]> {
  const { schemas } = ctx.config;
  const exists = await ctx.work.query('select 1 from pg_tables where schemaname = $1 and tablename = $2', [schemas.bronze, 'sales_details']);
  if (!exists.rowCount) {
    throw new DataError('BRONZE_FILE_MISSING', `${schemas.bronze} has not been loaded yet`, { hint: 'Run `medallion load` (or `medallion build`) first.' });
  }
  const { rows } = await ctx.work.query<{ file: string; sha256: string; bytes: number }>(
    `select f.file, f.sha256, f.bytes from ${ident(schemas.etl)}.source_files f
      where f.run_id = (select max(_run_id) from ${ident(schemas.bronze)}.sales_details) order by f.source`,
  );
  return rows;
}

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

function modelsSummary(built: BuildResult, rules: RuleCountsResult, tests: TestSummary): string {
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

/** The live line of the bronze load on a terminal. */
export function bronzeProgressLine(source: string, bytesRead: number, bytes: number, records: number, elapsedMs: number): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const rate = bytesRead / 1e6 / Math.max(elapsedMs / 1000, 1e-3);
  const eta = rate > 0 ? (bytes - bytesRead) / 1e6 / rate : 0;
  const pct = bytes > 0 ? Math.min(100, Math.floor((bytesRead / bytes) * 100)) : 100;
  return `  ${source.padEnd(14)} ${String(pct).padStart(3)}%  ${mb(bytesRead)}/${mb(bytes)} MB  ${rate.toFixed(1)} MB/s  ${records.toLocaleString('en-US')} records  ETA ${Math.ceil(eta)} s`;
}

function bronzeStage(ctx: RunContext): Promise<BronzeLoadResult> {
  const { config } = ctx;
  const fileStarted = new Map<string, number>();
  // One live line for the files loading at the same time (one per connection).
  const loading = new Map<string, string>();
  return withParallelConnections(ctx, config.jobs - 1, (parallel) =>
    loadBronze({
      client: ctx.work,
      parallelClients: parallel,
      ledger: ctx.ledger,
      schemas: config.schemas,
      seedsDir: config.seedsDir,
      runId: ctx.runId,
      maxRejectRate: config.maxRejectRate,
      maxFieldBytes: config.maxFieldBytes,
      signal: ctx.signal,
      onProgress: (e) => {
        if (e.kind === 'file-start') fileStarted.set(e.source, performance.now());
        else if (e.kind === 'file-progress') {
          loading.set(e.source, bronzeProgressLine(e.source, e.bytesRead, e.bytes, e.records, performance.now() - (fileStarted.get(e.source) ?? 0)));
          ctx.logger.progress([...loading.values()].join('  |'));
        } else {
          const r = e.result;
          loading.delete(r.source);
          ctx.logger.event('bronze_file_loaded', { source: r.source, records: r.records, rows: r.rowsLoaded, rejects: r.rejects, seconds: r.seconds }, `  ${r.source}: ${r.rowsLoaded} rows, ${r.rejects} rejected, ${r.seconds.toFixed(2)} s`);
        }
      },
    }),
  );
}
