/**
 * `medallion build` end to end: bronze → silver → gold → tests → publish → export, as one run.
 * Each stage lives in its own folder; this file only sequences them and reports.
 */
import { type BronzeLoadResult, loadBronze } from '../bronze/load.ts';
import type { PipelineConfig } from '../config.ts';
import { formatTable, type Logger } from '../runs/logger.ts';
import { executeRun, type RunContext, type RunOutcome } from '../runs/run.ts';

export type BuildScope = 'bronze' | 'all';

export async function runBuild(config: PipelineConfig, scope: BuildScope, logger: Logger, signal: AbortSignal): Promise<RunOutcome> {
  return executeRun(config, scope === 'bronze' ? 'load' : 'build', logger, signal, async (ctx) => {
    const bronze = await ctx.stage('bronze', () => bronzeStage(ctx), (r) => r.files.reduce((n, f) => n + f.rowsLoaded, 0));
    ctx.summary.bronze = bronze.files;
    logger.block('bronze_summary', bronzeSummary(bronze), { files: bronze.files });
  });
}

function bronzeStage(ctx: RunContext): Promise<BronzeLoadResult> {
  const { config } = ctx;
  return loadBronze({
    client: ctx.work,
    ledger: ctx.ledger,
    schemas: config.schemas,
    seedsDir: config.seedsDir,
    runId: ctx.runId,
    maxRejectRate: config.maxRejectRate,
    maxFieldBytes: config.maxFieldBytes,
    signal: ctx.signal,
    onProgress: (e) => {
      if (e.kind === 'file-done') {
        const r = e.result;
        ctx.logger.event('bronze_file_loaded', { ...r }, `  ${r.source}: ${r.rowsLoaded} rows, ${r.rejects} rejected, ${r.seconds.toFixed(2)} s`);
      }
    },
  });
}

export function bronzeSummary(result: BronzeLoadResult): string {
  const rows = result.files.map((f) => [
    f.source,
    f.records,
    f.rowsLoaded,
    f.rejects,
    Number((f.bytes / 1e6).toFixed(2)),
    Number(f.seconds.toFixed(2)),
    Math.round(f.records / Math.max(f.seconds, 1e-6)),
  ]);
  const total = result.files.reduce(
    (t, f) => ({ records: t.records + f.records, rows: t.rows + f.rowsLoaded, rejects: t.rejects + f.rejects, bytes: t.bytes + f.bytes }),
    { records: 0, rows: 0, rejects: 0, bytes: 0 },
  );
  rows.push(['total', total.records, total.rows, total.rejects, Number((total.bytes / 1e6).toFixed(2)), Number(result.seconds.toFixed(2)), Math.round(total.records / Math.max(result.seconds, 1e-6))]);
  return `\nbronze\n${formatTable(['source', 'records', 'loaded', 'rejected', 'MB', 'seconds', 'rows/s'], rows)}`;
}
