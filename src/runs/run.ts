/**
 * The life of one run: connect, take the target's lock, open the ledger row, run the stages, and
 * close the ledger row with its status and exit code whatever happened (failed and interrupted
 * runs are recorded too). The stages get a work connection of their own; the ledger connection
 * holds the lock and writes outside the stages' transactions.
 */
import path from 'node:path';
import type { PipelineConfig } from '../config.ts';
import { type Client, connect } from '../db/client.ts';
import { openDatabase } from '../db/open.ts';
import { writeRunReport } from '../report/write.ts';
import { exitCodeFor } from '../cli/exit-codes.ts';
import { InterruptedError, MedallionError } from '../errors.ts';
import { ensureLedger, finishRun, type StageRecord, startRun } from './ledger.ts';
import { acquireRunLock } from './lock.ts';
import type { Logger } from './logger.ts';

export interface RunContext {
  config: PipelineConfig;
  runId: number;
  /** Connection for the stages' work (transactions, COPY). */
  work: Client;
  /** Autocommit connection that holds the lock and writes the ledger. */
  ledger: Client;
  logger: Logger;
  signal: AbortSignal;
  stages: StageRecord[];
  summary: Record<string, unknown>;
  /** Times a stage and records it in the run's stage list. */
  stage<T>(name: string, fn: () => Promise<T>, rows?: (result: T) => number | undefined): Promise<T>;
}

export interface RunOutcome {
  runId: number;
  exitCode: number;
  error?: MedallionError | Error;
}

export async function executeRun(
  config: PipelineConfig,
  command: string,
  logger: Logger,
  signal: AbortSignal,
  body: (ctx: RunContext) => Promise<void>,
): Promise<RunOutcome> {
  // With no server configured, this starts the project's embedded PostgreSQL (src/db/embedded.ts).
  const db = await openDatabase(config.connection, {
    projectDir: path.dirname(config.reportsDir),
    signal,
    log: (line) => logger.event('embedded_db', { message: line }, line),
  });
  try {
    return await runOn(Object.freeze({ ...config, connection: db.connection }), command, logger, signal, body);
  } finally {
    await db.close();
  }
}

async function runOn(
  config: PipelineConfig,
  command: string,
  logger: Logger,
  signal: AbortSignal,
  body: (ctx: RunContext) => Promise<void>,
): Promise<RunOutcome> {
  logger.event('connecting', { database: config.connection.display, source: config.connection.source }, `database: ${config.connection.display} (from ${config.connection.source})`);
  const ledger = await connect(config.connection, 'medallion-ledger');
  let work: Client | undefined;
  let runId = 0;
  const stages: StageRecord[] = [];
  const summary: Record<string, unknown> = {};
  // A signal ends the work connection: the server rolls back whatever transaction was open, and
  // the stage waiting on it fails at once instead of finishing a long query first.
  const onAbort = () => void work?.end().catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await acquireRunLock(ledger, config.target);
    await ensureLedger(ledger, config.schemas);
    runId = await startRun(ledger, config.schemas, { target: config.target, command });
    logger.bind({ run_id: runId, target: config.target ?? 'default' });
    logger.event('run_started', { command }, `run ${runId} started (target ${config.target ?? 'default'})`);
    signal.throwIfAborted();
    work = await connect(config.connection, 'medallion-work');
    const ctx: RunContext = {
      config,
      runId,
      work,
      ledger,
      logger,
      signal,
      stages,
      summary,
      async stage(name, fn, rows) {
        const started = performance.now();
        try {
          const result = await fn();
          stages.push({ stage: name, status: 'success', seconds: (performance.now() - started) / 1000, rows: rows?.(result) });
          return result;
        } catch (err) {
          stages.push({ stage: name, status: 'failed', seconds: (performance.now() - started) / 1000 });
          throw err;
        }
      },
    };
    await body(ctx);
    await finishRun(ledger, config.schemas, runId, { status: 'success', exitCode: 0, stages, summary });
    return { runId, exitCode: 0 };
  } catch (caught) {
    const err = signal.aborted && signal.reason instanceof InterruptedError ? signal.reason : caught;
    const exitCode = exitCodeFor(err);
    if (runId) {
      await finishRun(ledger, config.schemas, runId, {
        status: err instanceof InterruptedError ? 'interrupted' : 'failed',
        exitCode,
        errorCode: err instanceof MedallionError ? err.code : 'INTERNAL',
        errorMessage: err instanceof MedallionError ? err.describe() : String((err as Error)?.message ?? err),
        stages,
        summary,
      }).catch(() => {});
    }
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await work?.end().catch(() => {});
    if (runId) await reportRun(config, ledger, runId, logger);
    await ledger.end().catch(() => {});
  }
}

/** Every run, failed ones included, leaves reports/run-<id>.json; never changes the exit code. */
async function reportRun(config: PipelineConfig, ledger: Client, runId: number, logger: Logger): Promise<void> {
  await writeRunReport({ client: ledger, schemas: config.schemas, runId, reportsDir: config.reportsDir, sqlDir: config.sqlDir, html: config.report })
    .then((w) => logger.event('run_report_written', { json: w.json, html: w.html }, `report: ${path.relative(process.cwd(), w.html ?? w.json)}`))
    .catch((err) => logger.error('run_report_failed', {}, `medallion: could not write the run report: ${(err as Error).message}`));
}
