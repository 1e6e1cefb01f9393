/**
 * The life of one run: connect, take the target's lock, open the ledger row, close the rows of
 * runs that stopped without closing theirs, run the stages, and close the ledger row with its
 * status and exit code whatever happened (failed and interrupted runs are recorded too). The
 * stages get a work connection of their own; the ledger connection holds the lock and writes
 * outside the stages' transactions. Losing the ledger connection loses the lock: the run stops at
 * once with LOCK_LOST (exit 3).
 */
import { type PipelineConfig, runSchemaNames } from '../config.ts';
import { type Client, connect, openDatabase, withClient } from '../db/index.ts';
import { exitCodeFor, fromDatabaseError, fromFileSystemError, InterruptedError, MedallionError } from '../errors.ts';
import { dropLeftovers, dropRunStaging, type LeftoverCleanup } from './abandoned.ts';
import { type AbandonedRun, abandonRunningRuns, ensureLedger, finishRun, type StageRecord, startRun } from './ledger.ts';
import { acquireRunLock, type RunLockWatch, watchRunLock } from './lock.ts';
import type { Logger } from './logger.ts';
import { type StageOutput, stageOutput } from './output.ts';
import { newRunSummary, type RunSummary } from './summary.ts';

export interface RunContext {
  config: PipelineConfig;
  runId: number;
  /** Connection for the stages' work (transactions, COPY). */
  work: Client;
  /** Autocommit connection that holds the lock and writes the ledger. */
  ledger: Client;
  logger: Logger;
  /** The stages' events and summary tables, written through the logger. */
  output: StageOutput;
  /** Aborted on SIGINT/SIGTERM and when the lock's connection is lost (reason: the error). */
  signal: AbortSignal;
  stages: StageRecord[];
  /**
   * Runs of this target that this run found `running` and marked `abandoned`; their database
   * leftovers are dropped already, other leftovers (export folders) are their owners' to clean.
   */
  abandonedRuns: readonly AbandonedRun[];
  /** Set by the publisher once its transaction has committed: what readers see is this run's. */
  published: boolean;
  /** What the stages did, written to the ledger row when the run closes (failed runs too). */
  summary: RunSummary;
  /** Times a stage and records it in the run's stage list. */
  stage<T>(name: string, fn: () => Promise<T>, rows?: (result: T) => number | undefined): Promise<T>;
}

export interface RunOutcome {
  runId: number;
  exitCode: number;
  error?: MedallionError | Error;
}

/**
 * What the run calls once its ledger row is closed (success or failure), and for each run it marks
 * abandoned: the command layer's report writer (reportRun of src/report/write.ts), which sits above
 * the runs. A reporter does not throw: a report that cannot be written never changes the exit code.
 */
export type RunReporter = (ledger: Client, config: PipelineConfig, runId: number, logger: Logger) => Promise<void>;

export interface RunOptions {
  /**
   * Called on the ledger connection with the target's lock held, before the ledger schema is
   * created and the run's row opened. A command that only reads what earlier runs recorded (the
   * export) checks it here and throws: a target that has no ledger yet is left without one, and
   * no run is recorded.
   */
  beforeLedger?: (ledger: Client) => Promise<void>;
}

export async function executeRun(
  config: PipelineConfig,
  command: string,
  logger: Logger,
  signal: AbortSignal,
  reportRun: RunReporter,
  body: (ctx: RunContext) => Promise<void>,
  options: RunOptions = {},
): Promise<RunOutcome> {
  // With no server configured, this starts the project's embedded PostgreSQL (src/db/embedded/).
  const db = await openDatabase(config.connection, {
    projectDir: config.projectDir,
    signal,
    log: (line) => logger.event('embedded_db', { message: line }, line),
  });
  try {
    return await runOn(Object.freeze({ ...config, connection: db.connection }), command, logger, signal, reportRun, body, options);
  } finally {
    await db.close();
  }
}

async function runOn(
  config: PipelineConfig,
  command: string,
  logger: Logger,
  signal: AbortSignal,
  reportRun: RunReporter,
  body: (ctx: RunContext) => Promise<void>,
  options: RunOptions,
): Promise<RunOutcome> {
  logger.event('connecting', { database: config.connection.display, source: config.connection.source }, `database: ${config.connection.display} (from ${config.connection.source})`);
  const ledger = await connect(config.connection, 'medallion-ledger', { holdsLock: true });
  let work: Client | undefined;
  let runId = 0;
  let runConfig = config;
  const stages: StageRecord[] = [];
  const summary = newRunSummary();
  let lock: RunLockWatch | undefined;
  let ctx: RunContext | undefined;
  let failure: unknown = null;
  // The run stops on the CLI's signal (SIGINT/SIGTERM) and when the lock's connection is lost.
  const controller = new AbortController();
  const runSignal = AbortSignal.any([signal, controller.signal]);
  // An abort ends the work connection: the server rolls back whatever transaction was open, and
  // the stage waiting on it fails at once instead of finishing a long query first.
  const onAbort = () => void work?.end().catch(() => {});
  runSignal.addEventListener('abort', onAbort, { once: true });
  try {
    await acquireRunLock(ledger, config.target);
    lock = watchRunLock(ledger, config.target, () => ctx?.published === true);
    lock.signal.addEventListener('abort', () => controller.abort(lock!.signal.reason), { once: true });
    await options.beforeLedger?.(ledger);
    await ensureLedger(ledger, config.schemas);
    runId = await startRun(ledger, config.schemas, { target: config.target, command });
    // From here on the run builds into its own staging schemas.
    runConfig = Object.freeze({ ...config, schemas: runSchemaNames(config.schemas, runId) });
    logger.bind({ run_id: runId, target: config.target ?? 'default' });
    logger.event('run_started', { command }, `run ${runId} started (target ${config.target ?? 'default'})`);
    const abandoned = await closeAbandonedRuns(runConfig, ledger, runId, logger, reportRun);
    if (abandoned.length) summary.abandoned_runs = abandoned.map((a) => a.runId);
    runSignal.throwIfAborted();
    work = await connect(config.connection, 'medallion-work');
    ctx = {
      config: runConfig,
      runId,
      work,
      ledger,
      logger,
      output: stageOutput(logger),
      signal: runSignal,
      stages,
      summary,
      abandonedRuns: abandoned,
      published: false,
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
    // The lock lost after the work was done: a run that has published stands (its publish checked
    // the lock inside its transaction); any other is reported as LOCK_LOST.
    if (lock.lost && !ctx.published) throw lock.lost;
    await withLedger(config, ledger, lock, (client) => finishRun(client, config.schemas, runId, { status: 'success', exitCode: 0, stages, summary }));
    return { runId, exitCode: 0 };
  } catch (caught) {
    // A statement that failed because the abort ended its connection is reported as the abort.
    const err = runSignal.aborted && runSignal.reason instanceof MedallionError ? runSignal.reason : (fromFileSystemError(caught) ?? caught);
    failure = err;
    const exitCode = exitCodeFor(err);
    if (runId) {
      await withLedger(config, ledger, lock, (client) =>
        finishRun(client, config.schemas, runId, {
          status: err instanceof InterruptedError ? 'interrupted' : 'failed',
          exitCode,
          errorCode: err instanceof MedallionError ? err.code : 'INTERNAL',
          errorMessage: err instanceof MedallionError ? err.describe() : String((err as Error)?.message ?? err),
          stages,
          summary,
        }),
      ).catch(() => {});
    }
    throw err;
  } finally {
    runSignal.removeEventListener('abort', onAbort);
    await work?.end().catch(() => {});
    if (runId && !ctx?.published && runConfig !== config) await leaveNoStaging(runConfig, ledger, lock, failure, logger);
    if (runId) await withLedger(config, ledger, lock, (client) => reportRun(client, runConfig, runId, logger)).catch(() => {});
    lock?.stop();
    await ledger.end().catch(() => {});
  }
}

/** Failures whose staging schemas a person debugging wants to query: the data the tests read. */
const KEEP_STAGING_ON = new Set(['TESTS_FAILED', 'RECONCILIATION_FAILED']);

/**
 * A run that did not publish drops its own staging schemas on its way out, except when its data
 * tests failed: then they hold the very tables the failing tests read, and stay for inspection
 * until the next run of the target drops them (it drops every stopped run's leftovers). A schema
 * that cannot be dropped now is left to that next run too.
 */
async function leaveNoStaging(config: PipelineConfig, ledger: Client, lock: RunLockWatch | undefined, failure: unknown, logger: Logger): Promise<void> {
  const { silver, gold } = config.schemas.staging;
  if (failure instanceof MedallionError && KEEP_STAGING_ON.has(failure.code)) {
    logger.event('staging_kept', { schemas: [silver, gold] }, `kept ${silver} and ${gold} for inspection: the next run of this target drops them`);
    return;
  }
  await withLedger(config, ledger, lock, async (client) => {
    const cleanup = await dropRunStaging(client, config.schemas);
    if (cleanup.dropped.length) logger.event('staging_dropped', { dropped: cleanup.dropped.map((d) => d.name) });
  }).catch(() => {
    // The next run of the target drops what is left.
  });
}

/**
 * Runs `fn` on the ledger connection, or, when the lock's connection was lost, on a new one: the
 * run's own row is still closed and reported (another run holding the lock now does not touch it).
 */
async function withLedger(config: PipelineConfig, ledger: Client, lock: RunLockWatch | undefined, fn: (client: Client) => Promise<void>): Promise<void> {
  if (!lock?.lost) return fn(ledger);
  await withClient(config.connection, 'medallion-ledger-close', fn);
}

/**
 * The run holds the lock: every other `running` row of the target's ledger belongs to a run that
 * stopped without closing it (kill -9, a lost connection, a server restart). Each is marked
 * `abandoned` by this run and gets its report, and the database leftovers of stopped runs (their
 * staging schemas, bronze `__loading` tables) are dropped. The exports folder's leftovers are the
 * export module's: `RunContext.abandonedRuns` names the runs.
 */
async function closeAbandonedRuns(config: PipelineConfig, ledger: Client, runId: number, logger: Logger, reportRun: RunReporter): Promise<AbandonedRun[]> {
  const target = config.target ?? '(default)';
  const message = `the run stopped without closing its row (its process was killed, it lost its database connection, or the server restarted); run ${runId} found it when it took the lock on target '${target}'`;
  let abandoned: AbandonedRun[];
  let cleanup: LeftoverCleanup;
  try {
    abandoned = await abandonRunningRuns(ledger, config.schemas, runId, message);
    cleanup = await dropLeftovers(ledger, config.schemas);
  } catch (err) {
    throw fromDatabaseError(err, 'closing the runs left running on this target');
  }
  for (const a of abandoned) {
    logger.event('run_abandoned', { abandoned_run_id: a.runId, command: a.command, started_at: a.startedAt.toISOString() },
      `run ${a.runId} (${a.command}, started ${a.startedAt.toISOString()}) was left running: marked abandoned`);
    await reportRun(ledger, config, a.runId, logger);
  }
  if (cleanup.dropped.length) {
    logger.event('leftovers_dropped', { dropped: cleanup.dropped }, `dropped what stopped runs left: ${cleanup.dropped.map((d) => d.name).join(', ')}`);
  }
  for (const k of cleanup.kept) {
    logger.event('leftover_kept', { kind: k.kind, name: k.name, reason: k.reason }, `could not drop ${k.name} now (${k.reason}); the next run tries again`);
  }
  return abandoned;
}
