/**
 * The session settings of the heavy statements (model builds, data tests, rule counts): memory and
 * planner settings, applied with `set local` inside a short transaction so that the session —
 * possibly shared with the caller — keeps its own settings, and the run's settings
 * (`medallion.as_of`, `medallion.run_id`) on every connection that builds or tests.
 *
 * PostgreSQL's default work_mem (4MB) sends every sort and hash of a few million rows to disk and
 * splits hash joins and hash aggregates into batches. 256MB per sort/hash node (× the parallel
 * workers, × hash_mem_multiplier for hashes) keeps the joins, the `unique` tests and most window
 * sorts of a 6M-line build in memory on a 24 GB machine while leaving the worst case (a few
 * such nodes at once) at a few GB. maintenance_work_mem serves `analyze` (and any index).
 */
import type { Client } from '../db/index.ts';
import { fromDatabaseError, UsageError } from '../errors.ts';

export interface MemorySettings {
  workMem: string;
  maintenanceWorkMem: string;
}

export const DEFAULT_MEMORY: Readonly<MemorySettings> = Object.freeze({ workMem: '256MB', maintenanceWorkMem: '1GB' });

/**
 * Memory for the model builds (and the rule counts and data tests) unless the caller gives its own:
 * 1GB per sort or hash node keeps fact_sales' window sort and the tests' large hash aggregates of a
 * 6M-line build (scale 100) in memory; a few such nodes at once stay well within a 24 GB machine.
 * (int_sales_lines' sort still spills at this size: 1.2 GB to disk at scale 100 by EXPLAIN ANALYZE;
 * 3GB keeps it in memory but saves only 4 s of its 72 s of CPU.)
 */
export const BUILD_MEMORY: Readonly<MemorySettings> = Object.freeze({ workMem: '1GB', maintenanceWorkMem: '1GB' });

/**
 * Planner settings `set local` with the memory for every heavy statement (models, rule counts, data
 * tests). JIT is off: these statements are dominated by sorts, windows and writes, where compiled
 * expressions gain little, while compiling them costs time on every one of them (every big model and
 * each of the data tests over the 6M-row tables is above jit_above_cost).
 */
export const PLANNER_SETTINGS_SQL = "select set_config('jit', 'off', true)";

/**
 * A model's own planner settings (`config.meta.planner_settings`, validated where the .yml is
 * read), `set local` after PLANNER_SETTINGS_SQL inside the model's transaction: they end with it,
 * so the next model plans with the defaults again.
 */
export async function setModelPlannerSettings(client: Client, settings: Readonly<Record<string, string>> | undefined): Promise<void> {
  const entries = Object.entries(settings ?? {});
  if (entries.length === 0) return;
  await client.query(`select ${entries.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`, entries.flat());
}

const SIZE = /^\d+\s*(kB|MB|GB)$/;

/** Merges `overrides` into the defaults; throws CONFIG_INVALID for a size PostgreSQL would not take. */
export function memorySettings(overrides: Partial<MemorySettings> = {}): MemorySettings {
  const memory = { ...DEFAULT_MEMORY, ...overrides };
  const problems: string[] = [];
  if (!SIZE.test(memory.workMem)) problems.push(`work_mem: expected a size such as 256MB, got '${memory.workMem}'`);
  if (!SIZE.test(memory.maintenanceWorkMem)) problems.push(`maintenance_work_mem: expected a size such as 1GB, got '${memory.maintenanceWorkMem}'`);
  if (problems.length) throw new UsageError('CONFIG_INVALID', problems);
  return memory;
}

/**
 * Runs `fn` in a transaction with the memory settings `set local`; commits when it succeeds,
 * rolls back (if the connection is still there) and rethrows when it fails.
 */
export async function withLocalSettings<T>(client: Client, memory: MemorySettings, fn: () => Promise<T>): Promise<T> {
  let inTransaction = false;
  try {
    await client.query('begin');
    inTransaction = true;
    await client.query("select set_config('work_mem', $1, true), set_config('maintenance_work_mem', $2, true)", [memory.workMem, memory.maintenanceWorkMem]);
    const result = await fn();
    await client.query('commit');
    inTransaction = false;
    return result;
  } catch (err) {
    if (inTransaction) await client.query('rollback').catch(() => {});
    throw err;
  }
}

/**
 * The run's settings on a session: `medallion.as_of` (the only way the run's date reaches the SQL),
 * when given `medallion.run_id`, and `medallion.data_as_of`: the as_of the data alone would give
 * (sql/run/default_as_of.sql), which differs from as_of when --as-of pins the run to another day;
 * silver.int_sales_date_range bounds the plausible dates by the later of the two, so a line a pinned
 * run leaves out because it comes after as_of is counted as such, not called implausible. Every
 * connection that builds models or runs data tests gets them, so a model or test reads the same
 * dates whichever connection it runs on.
 */
export async function setRunSettings(client: Client, settings: { asOf: string; runId?: number; dataAsOf?: string | null }): Promise<void> {
  try {
    await client.query(
      "select set_config('medallion.as_of', $1, false), set_config('medallion.run_id', $2, false), set_config('medallion.data_as_of', $3, false)",
      [settings.asOf, settings.runId === undefined ? '' : String(settings.runId), settings.dataAsOf ?? ''],
    );
  } catch (err) {
    throw fromDatabaseError(err, 'setting medallion.as_of on a connection');
  }
}
