/**
 * Runs that stop without closing their row (kill -9) are closed by the next run that takes the
 * target's lock: marked `abandoned` (by that run), reported, and their staging schemas and bronze
 * `__loading` tables dropped; nothing else of the target is touched. And the staging schema names
 * that make this safe: one pair per run, whole PostgreSQL identifiers, recognised by one pattern.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_IDENTIFIER_BYTES, runSchemaNames, schemaNames } from '../../src/config.ts';
import schema from '../../src/report/run-report.schema.json' with { type: 'json' };
import { isStagingSchema, stagingSchemaPattern, updateSchemaPattern } from '../../src/transform/compile.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';
import { holdTableLock, type LogEvent, spawnCli, startCli, waitForLockFree, workFolder } from './helpers.ts';

const target = uniqueTarget('abandon');
const schemas = schemaNames(target);
const validateReport = new Ajv({ allErrors: true, strict: true }).compile(schema);
let work: string;
let seeds: string;

// --full-refresh: every run loads and builds (with nothing changed a build would do nothing)
const buildArgs = () => ['build', '--seeds', seeds, '--target', target, '--out', path.join(work, 'exports'), '--as-of', '2014-01-29', '--full-refresh'];

/** Runs `medallion build` as a child and kills it with SIGKILL when `killWhen` first says so. */
async function buildKilled(killWhen: (e: LogEvent) => boolean): Promise<{ runId: number; events: LogEvent[] }> {
  let killed = false;
  const child = spawnCli(buildArgs(), {
    cwd: work,
    onEvent: (e) => {
      if (!killed && killWhen(e)) {
        killed = true;
        child.kill('SIGKILL');
      }
    },
  });
  const done = await child.done;
  expect(done.signal, done.output).toBe('SIGKILL');
  const started = done.events.find((e) => e.event === 'run_started');
  return { runId: Number(started?.run_id), events: done.events };
}

async function runRow(runId: number) {
  const [row] = await query(`select status, exit_code, error_code, abandoned_by::int, finished_at is not null as finished from "${schemas.etl}".runs where run_id = $1`, [runId]);
  return row;
}

async function schemasLike(pattern: string): Promise<string[]> {
  return (await query<{ nspname: string }>('select nspname from pg_namespace where nspname ~ $1 order by 1', [pattern])).map((r) => r.nspname);
}

async function loadingTables(): Promise<string[]> {
  const rows = await query<{ tablename: string }>("select tablename from pg_tables where schemaname = $1 and tablename like '%\\_\\_loading' order by 1", [schemas.bronze]);
  return rows.map((r) => r.tablename);
}

async function report(runId: number) {
  const json = JSON.parse(await readFile(path.join(work, 'reports', target, `run-${runId}.json`), 'utf8'));
  expect(validateReport(json), JSON.stringify(validateReport.errors)).toBe(true);
  return json.run;
}

beforeAll(async () => {
  ({ work, seeds } = await workFolder('abandon'));
  const r = await startCli(buildArgs(), { cwd: work });
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await rm(work, { recursive: true, force: true });
});

describe('runs left running', () => {
  it('the next run that takes the lock marks them abandoned, writes their reports and drops their staging schemas and __loading tables', async () => {
    // What is not a run's leftover stays: a schema of the user's that shares the prefix. A `_next`
    // schema is a staging schema of a build outside a run, and goes.
    await query(`create schema "${schemas.silver}_notes"; create table "${schemas.silver}_notes".keep (x int)`);
    await query(`create schema "${schemas.silver}_next"; create table "${schemas.silver}_next".customers (x int)`);

    // A: killed while its models are built. Its first data test result waits on the blocker, so
    // the kill lands in the models stage whatever the machine's speed.
    let blocker = await holdTableLock(`"${schemas.etl}".test_results`, 'exclusive');
    const a = await buildKilled((e) => e.event === 'model_built').finally(() => blocker.release());
    await waitForLockFree(target);
    expect(await runRow(a.runId)).toEqual({ status: 'running', exit_code: null, error_code: null, abandoned_by: null, finished: false });
    expect(await schemasLike(`^${schemas.silver}__run_${a.runId}$`)).toEqual([`${schemas.silver}__run_${a.runId}`]);

    // B: killed after all six files are in their __loading tables, while the swap waits on the blocker.
    blocker = await holdTableLock(`"${schemas.bronze}".cust_info`, 'access exclusive');
    let loaded = 0;
    const b = await buildKilled((e) => e.event === 'bronze_file_loaded' && ++loaded === 6).finally(() => blocker.release());
    await waitForLockFree(target);
    // B took the lock: it closed A and dropped A's staging schemas and the `_next` one.
    expect(b.events.filter((e) => e.event === 'run_abandoned').map((e) => e.abandoned_run_id)).toEqual([a.runId]);
    expect(await runRow(a.runId)).toEqual({ status: 'abandoned', exit_code: null, error_code: 'RUN_ABANDONED', abandoned_by: b.runId, finished: true });
    expect(await report(a.runId)).toMatchObject({ run_id: a.runId, status: 'abandoned', error_code: 'RUN_ABANDONED' });
    expect(await schemasLike(stagingSchemaPattern(schemas))).toEqual([]);
    expect(await runRow(b.runId)).toMatchObject({ status: 'running', abandoned_by: null });
    expect(await loadingTables()).toEqual(['cust_az12__loading', 'cust_info__loading', 'loc_a101__loading', 'prd_info__loading', 'px_cat_g1v2__loading', 'sales_details__loading']);

    // C: succeeds, closes B (one line), drops B's __loading tables.
    const c = await startCli(buildArgs(), { cwd: work });
    expect(c.code, c.stderr).toBe(0);
    const cRunId = Number(c.events.find((e) => e.event === 'run_started')?.run_id);
    const abandonedLines = c.events.filter((e) => e.event === 'run_abandoned');
    expect(abandonedLines.map((e) => e.abandoned_run_id)).toEqual([b.runId]);
    expect(await runRow(b.runId)).toEqual({ status: 'abandoned', exit_code: null, error_code: 'RUN_ABANDONED', abandoned_by: cRunId, finished: true });
    const bReport = await report(b.runId);
    expect(bReport).toMatchObject({ run_id: b.runId, status: 'abandoned' });
    expect(bReport.error_message).toMatch(new RegExp(`run ${cRunId} found it when it took the lock`));
    expect(await loadingTables()).toEqual([]);
    expect(await schemasLike(stagingSchemaPattern(schemas))).toEqual([]);
    expect(await schemasLike(`^${schemas.silver}_notes$`)).toEqual([`${schemas.silver}_notes`]);
    expect(await query(`select count(*)::int as n from "${schemas.etl}".runs where status = 'running'`)).toEqual([{ n: 0 }]);
    // C's report is the latest; the abandoned runs' reports did not take its place
    expect(JSON.parse(await readFile(path.join(work, 'reports', target, 'latest.json'), 'utf8')).run.run_id).toBe(cRunId);
  });
});

describe('staging schema names', () => {
  it('are the run’s own, and whole identifiers for the longest target and run id', () => {
    const longest = schemaNames('t'.repeat(31));
    const names = runSchemaNames(longest, Number.MAX_SAFE_INTEGER).staging;
    expect(names.silver).toBe(`${'t'.repeat(31)}_silver__run_${Number.MAX_SAFE_INTEGER}`);
    for (const n of Object.values(names)) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
    expect(runSchemaNames(schemaNames('dev'), 7).staging).toEqual({ silver: 'dev_silver__run_7', gold: 'dev_gold__run_7' });
    expect(runSchemaNames(schemaNames(null), 7).staging).toEqual({ silver: 'silver__run_7', gold: 'gold__run_7' });
    // outside a run
    expect(schemaNames('dev').staging).toEqual({ silver: 'dev_silver_next', gold: 'dev_gold_next' });
  });

  it('one pattern recognises every run’s staging schema of the target, and nothing else', () => {
    const dev = schemaNames('dev');
    for (const s of ['dev_silver__run_1', 'dev_gold__run_123456', 'dev_silver_next', 'dev_gold_next']) expect(isStagingSchema(s, dev), s).toBe(true);
    for (const s of ['dev_silver', 'dev_gold', 'dev_silver_prev', 'dev_gold__prev_3', 'dev_silver__run_', 'dev_silver__run_1x', 'dev_silver_notes', 'x_dev_silver__run_1', 'dev2_silver__run_1', 'silver__run_1', 'dev_bronze__run_1']) {
      expect(isStagingSchema(s, dev), s).toBe(false);
    }
    const none = schemaNames(null);
    expect(isStagingSchema('silver__run_4', none)).toBe(true);
    expect(isStagingSchema('dev_silver__run_4', none)).toBe(false);
  });

  it('the update schemas of a run are those of its own staging schemas only', () => {
    const own = new RegExp(updateSchemaPattern(['dev_silver__run_5', 'dev_gold__run_5']));
    for (const s of ['dev_silver__run_5_u0', 'dev_gold__run_5_u17']) expect(own.test(s), s).toBe(true);
    for (const s of ['dev_silver__run_5', 'dev_silver__run_5_u', 'dev_silver__run_5_ux', 'dev_silver__run_50_u1', 'dev_silver__run_6_u1', 'x_dev_silver__run_5_u1', 'dev_silver__run_5_u1_u2']) {
      expect(own.test(s), s).toBe(false);
    }
  });
});
