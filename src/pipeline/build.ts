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
  const fileStarted = new Map<string, number>();
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
      if (e.kind === 'file-progress') {
        ctx.logger.progress(bronzeProgressLine(e.source, e.bytesRead, e.bytes, e.records, performance.now() - (fileStarted.get(e.source) ?? 0)));
      } else if (e.kind === 'file-start') {
        fileStarted.set(e.source, performance.now());
      } else if (e.kind === 'file-done') {
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

/** `sales_details  45%  160.2/358.8 MB  52.3 MB/s  2,103,000 records  ETA 4 s` */
export function bronzeProgressLine(source: string, bytesRead: number, bytes: number, records: number, elapsedMs: number): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const rate = bytesRead / 1e6 / Math.max(elapsedMs / 1000, 1e-3);
  const eta = rate > 0 ? (bytes - bytesRead) / 1e6 / rate : 0;
  const pct = bytes > 0 ? Math.min(100, Math.floor((bytesRead / bytes) * 100)) : 100;
  return `  ${source.padEnd(14)} ${String(pct).padStart(3)}%  ${mb(bytesRead)}/${mb(bytes)} MB  ${rate.toFixed(1)} MB/s  ${records.toLocaleString('en-US')} records  ETA ${Math.ceil(eta)} s`;
}
