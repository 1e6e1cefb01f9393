/**
 * `medallion export`: writes the published gold tables of a target to Parquet (see
 * src/export/README.md), with the provenance (run id, as_of, input files) of the build run that
 * published them. Runs as its own ledger run, under the target's lock, so a build cannot publish
 * new gold between reading the provenance and taking the export snapshot.
 */
import { resolvePipelineConfig } from '../config.ts';
import type { Client } from '../db/index.ts';
import type { ExportProgress } from '../export/index.ts';
import { DataError, fromDatabaseError } from '../errors.ts';
import type { InputFileRecord, RunContext } from '../runs/index.ts';
import type { Command } from './command.ts';
import { finishWithError } from './final-line.ts';

export const command: Command = {
  summary: 'write the published gold tables to Parquet (exports/, atomically, with a manifest)',
  description: `Writes exports/fact_sales/part-*.parquet, exports/customer_features.parquet,
exports/sales_daily.parquet and exports/_manifest.json from the published gold schema of the
target, all from one snapshot, into a temporary folder that replaces the output folder only when
every file is complete and its row count matches Postgres. A failed export changes nothing.

pandas: pandas.read_parquet('exports/fact_sales') and so on; dtypes in src/export/README.md.`,
  async run({ options }, io) {
    const { exportEntryNames, exportGold, GOLD_EXPORTS, openExportsDir } = await import('../export/index.ts');
    const { assertLockHeldInTransaction, createLogger, executeRun, exportsRecord, recordExportPublication } = await import('../runs/index.ts');
    const { reportRun } = await import('../report/index.ts');
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
          target: config.target,
          asOf: source.asOf,
          inputFiles: source.inputs,
          rowGroupSize: config.export.rowGroupSize,
          compression: config.export.compression,
          partitionBy: config.export.partitionBy,
          ...(config.export.tables ? { tables: config.export.tables } : {}),
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
      });
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
