/**
 * `medallion export`: writes the published gold tables of a target to Parquet (see
 * src/export/README.md), with the provenance (run id, as_of, input files) of the build run that
 * published them. Runs as its own ledger run, under the target's lock, so a build cannot publish
 * new gold between reading the provenance and taking the export snapshot.
 */
import { type OptionName, parseArgs, resolvePipelineConfig } from '../config.ts';
import { ident } from '../db/client.ts';
import { DataError, fromDatabaseError, MedallionError } from '../errors.ts';
import { exportGold, type InputFile } from '../export/export-gold.ts';
import { createLogger } from '../runs/logger.ts';
import { executeRun } from '../runs/run.ts';
import type { Command } from './command.ts';
import { exitCodeFor } from './exit-codes.ts';

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
      await executeRun(config, 'export', logger, io.signal, async (ctx) => {
        const source = await ctx.stage('provenance', () => publishedRun(ctx.work, ident(config.schemas.etl)));
        logger.event('export_source', { source_run_id: source.runId, as_of: source.asOf, inputs: source.inputs.length },
          `exporting ${config.schemas.gold} as published by run ${source.runId} (as_of ${source.asOf ?? 'unknown'}) to ${config.exportsDir}`);
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
          onTable: (t, seconds) => logger.event('export_table', { table: t.table, rows: t.rows, files: t.files.length, bytes: t.files.reduce((n, f) => n + f.bytes, 0), seconds },
            `  ${t.table.padEnd(18)} ${String(t.rows).padStart(10)} rows  ${t.files.length} file(s)  ${(t.files.reduce((n, f) => n + f.bytes, 0) / 1e6).toFixed(1)} MB  ${seconds.toFixed(1)} s`),
        }), (r) => Object.values(r.manifest.tables).reduce((n, t) => n + t.rows, 0));
        ctx.summary.export = { dir: result.exportsDir, source_run_id: source.runId, tables: Object.fromEntries(Object.entries(result.manifest.tables).map(([k, v]) => [k, v.rows])) };
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
 * The run whose gold is published: the latest `build` or `transform` that succeeded, or whose
 * `publish` stage succeeded. Its input files are the ones it recorded (`summary.inputs`), i.e. the
 * bronze its gold was built from, whatever was loaded since.
 */
async function publishedRun(client: import('../db/client.ts').Client, etl: string): Promise<{ runId: number; asOf: string | null; inputs: InputFile[] }> {
  const { rows } = await client.query<{ run_id: number; as_of: string | null; inputs: InputFile[] | null }>(
    `select run_id, to_char(as_of, 'YYYY-MM-DD') as as_of, summary->'inputs' as inputs from ${etl}.runs
      where command in ('build', 'transform') and (status = 'success' or stages @> '[{"stage": "publish", "status": "success"}]'::jsonb)
      order by run_id desc limit 1`,
  ).catch((err) => { throw fromDatabaseError(err, 'reading the run ledger'); });
  const run = rows[0];
  if (!run) {
    throw new DataError('EXPORT_FAILED', 'no build run has published gold on this target yet, so there is nothing to export', {
      hint: 'Run `medallion build` first (a build whose tests fail publishes and exports nothing).',
    });
  }
  const inputs = (run.inputs ?? []).map((f) => ({ file: f.file, sha256: f.sha256, bytes: Number(f.bytes) }));
  return { runId: Number(run.run_id), asOf: run.as_of, inputs };
}
