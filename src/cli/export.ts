/**
 * `medallion export`: writes the published gold tables of a target to Parquet (see
 * src/export/README.md), with the provenance (run id, as_of, input files) of the build run that
 * published them. Runs as its own ledger run, under the target's lock, so a build cannot publish
 * new gold between reading the provenance and taking the export snapshot.
 */
import { type OptionName, parseArgs, resolvePipelineConfig } from '../config.ts';
import type { Client } from '../db/index.ts';
import { DataError, exitCodeFor, fromDatabaseError, MedallionError } from '../errors.ts';
import { exportEntryNames, exportGold, GOLD_EXPORTS, openExportsDir } from '../export/index.ts';
import { assertLockHeldInTransaction, createLogger, executeRun, exportsRecord, type InputFileRecord, lastPublishedRun, recordExportPublication, type RunContext } from '../runs/index.ts';
import { reportRun } from '../report/index.ts';
import type { Command } from './command.ts';

const ACCEPTED = ['database-url', 'target', 'out', 'partition-by', 'row-group-size', 'compression', 'tables', 'log-format', 'quiet'] as const satisfies readonly OptionName[];

export const command: Command = {
  summary: 'write the published gold tables to Parquet (exports/, atomically, with a manifest)',
  usage: `usage: medallion export [options]

Writes exports/fact_sales/part-*.parquet, exports/customer_features.parquet,
exports/sales_daily.parquet and exports/_manifest.json from the published gold schema of the
target, all from one snapshot, into a temporary folder that replaces the output folder only when
every file is complete and its row count matches Postgres. A failed export changes nothing.

options:
  --out DIR                output folder (default exports)
  --partition-by order_year
                           Hive-style folders fact_sales/order_year=YYYY/
  --row-group-size N       rows per Parquet row group, rounded up to a multiple of 2048
                           (default 131072)
  --compression zstd|snappy  (default zstd)
  --tables LIST            only these, e.g. fact_sales (the output folder then holds only
                           them); default all three
  --target NAME            schema prefix (NAME_gold); env ETL_TARGET
  --database-url URL       env DATABASE_URL, else PG* variables
  --log-format pretty|json, --quiet

pandas: pandas.read_parquet('exports/fact_sales') and so on; dtypes in src/export/README.md.`,
  async run(argv, io) {
    const { options } = parseArgs(argv, ACCEPTED, io.env);
    const config = resolvePipelineConfig(options, io.env, io.cwd);
    const logger = createLogger({ format: config.logFormat, quiet: config.quiet, out: io.stdout, err: io.stderr });
    const started = performance.now();
    try {
      // The output folder is checked before the run starts (exit 2, nothing recorded).
      await openExportsDir(config.exportsDir, exportEntryNames(config.export.tables ?? GOLD_EXPORTS, 'fact_sales'));
      await executeRun(config, 'export', logger, io.signal, reportRun, async (ctx) => {
        const source = await ctx.stage('provenance', () => publishedRun(ctx));
        ctx.output.exportSource(config.schemas.gold, { runId: source.runId, asOf: source.asOf, inputs: source.inputs.length }, config.exportsDir);
        const result = await ctx.stage('export', () => exportGold({
          connection: config.connection,
          schemas: config.schemas,
          exportsDir: config.exportsDir,
          runId: source.runId,
          asOf: source.asOf,
          inputFiles: source.inputs,
          rowGroupSize: config.export.rowGroupSize,
          compression: config.export.compression,
          partitionBy: config.export.partitionBy,
          ...(config.export.tables ? { tables: config.export.tables } : {}),
          signal: ctx.signal,
          onTable: (t, seconds) => ctx.output.exportTable(t, seconds),
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
      });
      logger.final(`medallion: export to ${config.exportsDir} succeeded in ${((performance.now() - started) / 1000).toFixed(1)} s`, { status: 'success', exit_code: 0 });
      return 0;
    } catch (err) {
      const code = exitCodeFor(err);
      const text = err instanceof MedallionError ? `[${err.code}] ${err.describe()}` : String((err as Error)?.stack ?? err);
      logger.final(`medallion: export failed (exit ${code}): ${text}`, { status: 'failed', exit_code: code, error_code: (err as MedallionError).code }, true);
      return code;
    }
  },
};

/**
 * The run whose gold is published: the one whose publishing transaction recorded itself in the
 * ledger (`published_at`), so its as_of and input files are exactly those of the tables read.
 */
async function publishedRun(ctx: RunContext): Promise<{ runId: number; asOf: string | null; inputs: InputFileRecord[] }> {
  const run = await lastPublishedRun(ctx.ledger, ctx.config.schemas).catch((err) => { throw fromDatabaseError(err, 'reading the run ledger'); });
  if (!run) {
    throw new DataError('EXPORT_FAILED', 'no build run has published gold on this target yet, so there is nothing to export', {
      hint: 'Run `medallion build` first (a build whose tests fail publishes and exports nothing).',
    });
  }
  return { runId: run.runId, asOf: run.asOf, inputs: run.summary.inputs ?? [] };
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
