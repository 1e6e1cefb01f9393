/**
 * `medallion export`: writes the published gold tables of a target to Parquet (see
 * src/export/README.md), with the provenance (run id, as_of, input files) of the build run that
 * published them. Runs as its own ledger run, under the target's lock, so a build cannot publish
 * new gold between reading the provenance and taking the export snapshot.
 */
import { type PipelineConfig, resolvePipelineConfig } from '../config.ts';
import { type Client, ident } from '../db/index.ts';
import type { ExportProgress } from '../export/index.ts';
import { DataError, fromDatabaseError, UsageError } from '../errors.ts';
import type { InputFileRecord, RunContext } from '../runs/index.ts';
import type { Command } from './command.ts';
import { finishWithError } from './final-line.ts';

export const command: Command = {
  summary: 'write the published gold tables to Parquet (exports/, atomically, with a manifest)',
  description: `Writes exports/fact_sales/part-YYYY-MM.parquet (one file per order month),
exports/customer_features.parquet, exports/sales_daily.parquet,
exports/customer_training_set/part-bucket-NNN.parquet (one file per bucket of customer_id) and
exports/_manifest.json from the published gold schema
of the target, all from one snapshot, into a temporary folder that replaces the output folder only
when every file is complete and its row count matches Postgres. A failed export changes nothing.
A file (a fact_sales month, a training-set bucket, or a whole table) whose rows, columns and settings are those of the
published export is hard-linked from it instead of rewritten.
--select / --exclude (dbt's syntax, as for build) or --tables pick the gold tables to export.

pandas: pandas.read_parquet('exports/fact_sales') and so on; dtypes in src/export/README.md.`,
  async run({ options }, io) {
    const { exportEntryNames, exportGold, GOLD_EXPORTS, GOLD_FOLDERS, openExportsDir } = await import('../export/index.ts');
    const { assertLockHeldInTransaction, createLogger, executeRun, exportsRecord, recordExportPublication } = await import('../runs/index.ts');
    const { reportRun } = await import('../report/index.ts');
    const config = resolvePipelineConfig(options, io.env, io.cwd, io.stdout.isTTY === true);
    const logger = createLogger({ format: config.logFormat, quiet: config.quiet, out: io.stdout, err: io.stderr });
    const started = performance.now();
    try {
      const tables = await exportedTables(config);
      // The output folder is checked before the run starts (exit 2, nothing recorded).
      await openExportsDir(config.exportsDir, exportEntryNames(tables ?? GOLD_EXPORTS, GOLD_FOLDERS));
      await executeRun(config, 'export', logger, io.signal, reportRun, async (ctx) => {
        const source = await ctx.stage('provenance', () => publishedRun(ctx));
        const columnDocs = await goldColumnDocs(config);
        ctx.output.exportSource(config.schemas.gold, { runId: source.runId, asOf: source.asOf, inputs: source.inputs.length }, config.exportsDir);
        const result = await ctx.stage('export', () => exportGold({
          // The run's connection: with the embedded server, the address it was started on.
          connection: ctx.config.connection,
          schemas: config.schemas,
          exportsDir: config.exportsDir,
          runId: source.runId,
          target: config.target,
          asOf: source.asOf,
          inputFiles: source.inputs,
          rowGroupSize: config.export.rowGroupSize,
          compression: config.export.compression,
          partitionBy: config.export.partitionBy,
          columnDocs,
          ...(tables ? { tables } : {}),
          signal: ctx.signal,
          onTable: (t, seconds) => ctx.output.exportTable(t, seconds),
          ...(ctx.output.live ? { onProgress: (p: ExportProgress) => ctx.output.exportProgress(p) } : {}),
          // The commit point: the ledger records this version as the published export, on the
          // connection that holds the target's lock, after checking it still does.
          commit: async (versionPath) => {
            await inTransaction(ctx.ledger, async (tx) => {
              await assertLockHeldInTransaction(tx, config.target);
              await recordExportPublication(tx, config.schemas, ctx.runId, versionPath);
            });
            ctx.published = true;
          },
        }), (r) => Object.values(r.manifest.tables).reduce((n, t) => n + t.rows, 0));
        if (ctx.signal.aborted) ctx.output.lateSignal('export');
        ctx.summary.exports = exportsRecord(result, source.runId);
      }, { beforeLedger: (ledger) => assertLedgerExists(ledger, config) });
      logger.final(`medallion: export to ${config.exportsDir} succeeded in ${((performance.now() - started) / 1000).toFixed(1)} s`, { status: 'success', exit_code: 0 });
      return 0;
    } catch (err) {
      return finishWithError(logger, 'export', err);
    }
  },
};

/**
 * The run whose gold is published: the one whose publishing transaction recorded itself in the
 * ledger (`published_at`), so its as_of and input files are exactly those of the tables read.
 */
async function publishedRun(ctx: RunContext): Promise<{ runId: number; asOf: string | null; inputs: InputFileRecord[] }> {
  const { lastPublishedRun } = await import('../runs/index.ts');
  const run = await lastPublishedRun(ctx.ledger, ctx.config.schemas).catch((err) => { throw fromDatabaseError(err, 'reading the run ledger'); });
  if (!run) throw nothingPublished(ctx.config);
  return { runId: run.runId, asOf: run.asOf, inputs: run.summary.inputs ?? [] };
}

function nothingPublished(config: PipelineConfig): DataError {
  return new DataError('EXPORT_FAILED', `nothing is published on target ${config.target ?? 'default'} yet`, {
    hint: `Run \`medallion build${config.target ? ` --target ${config.target}` : ''}\` first (a build whose tests fail publishes and exports nothing).`,
  });
}

/**
 * A target without a ledger has never published: the export stops before the run would create
 * the ledger, so a mistyped --target leaves no `<target>_etl` schema behind.
 */
async function assertLedgerExists(ledger: Client, config: PipelineConfig): Promise<void> {
  const { rows } = await ledger
    .query<{ found: boolean }>('select to_regclass($1) is not null as found', [`${ident(config.schemas.etl)}.runs`])
    .catch((err) => { throw fromDatabaseError(err, 'reading the run ledger'); });
  if (!rows[0]!.found) throw nothingPublished(config);
}

/**
 * The gold tables to export, null for all of them: `--tables` by name, or the gold exports that
 * `--select` / `--exclude` pick from the project in --sql (dbt's graph syntax; a test selects
 * nothing here). Checked before the run starts: a selector that matches nothing, or that picks no
 * exported table, is a usage error (exit 2).
 */
async function exportedTables(config: PipelineConfig): Promise<readonly string[] | null> {
  const { GOLD_EXPORTS } = await import('../export/index.ts');
  const { select, exclude } = config.selection;
  if (select === null && exclude === null) return config.export.tables;
  if (config.export.tables) {
    throw new UsageError('CONFIG_INVALID', ['--tables and --select/--exclude both pick the tables: give one of them'], {
      hint: '--tables a,b is the same as --select "gold.a gold.b".',
    });
  }
  const { loadProject, selectNodes } = await import('../transform/index.ts');
  const project = await loadProject({ sqlDir: config.sqlDir });
  const selection = selectNodes(project, { select: select ?? undefined, exclude: exclude ?? undefined, root: config.projectDir });
  const models = new Set(selection.models.map((m) => m.name));
  const tables = GOLD_EXPORTS.filter((t) => models.has(`gold.${t}`));
  if (tables.length === 0) {
    const picked = selection.models.map((m) => m.name).join(', ') || 'no model';
    throw new UsageError('CONFIG_INVALID', [`the selection picks no exported gold table (it picks ${picked})`], {
      hint: `The exported tables: ${GOLD_EXPORTS.map((t) => `gold.${t}`).join(', ')}.`,
    });
  }
  return tables;
}

/** The descriptions and roles of the gold columns, from the project in --sql. */
async function goldColumnDocs(config: PipelineConfig) {
  const { columnDocsOf, loadProject } = await import('../transform/index.ts');
  return columnDocsOf(await loadProject({ sqlDir: config.sqlDir }), 'gold');
}

async function inTransaction(client: Client, fn: (tx: Client) => Promise<void>): Promise<void> {
  await client.query('begin');
  try {
    await fn(client);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
}
