/**
 * A run that fails drops its own staging schemas on its way out, except when its data tests
 * failed: then `<silver>__run_<id>` and `<gold>__run_<id>` hold the tables the failing tests read,
 * and stay until the next run of the target drops them. An incremental run's update schemas
 * (`<staging>_u<n>`) go with them.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/errors.ts';
import { generate } from '../../src/generate/index.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';
import { type LogEvent, ROOT, startCli } from './helpers.ts';

const target = uniqueTarget('staging_fail');
let work: string;

/** The staging schemas of `target` that exist now, sorted. */
async function stagingSchemas(): Promise<string[]> {
  const rows = await query<{ nspname: string }>(`select nspname from pg_namespace where nspname ~ $1 order by 1`, [`^${target}_(silver|gold)__run_[0-9]+$`]);
  return rows.map((r) => r.nspname);
}

/** A copy of the project's sql/ in `name`, with `edit` applied to one of its files. */
async function sqlVariant(name: string, file: string, edit: (text: string) => string): Promise<string> {
  const dir = path.join(work, name);
  await cp(path.join(ROOT, 'sql'), dir, { recursive: true });
  await writeFile(path.join(dir, file), edit(await readFile(path.join(dir, file), 'utf8')));
  return dir;
}

const transform = (sql: string) => startCli(['transform', '--target', target, '--sql', sql, '--skip-export', '--as-of', '2014-01-29'], { cwd: work });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'medallion-staging-fail-'));
  await generate({ scale: 0.02, seed: 5, outDir: path.join(work, 'seeds') });
  const loaded = await startCli(['load', '--target', target, '--seeds', path.join(work, 'seeds')], { cwd: work });
  expect(loaded.code, loaded.stderr).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await rm(work, { recursive: true, force: true });
});

describe('the staging schemas of a failed run', () => {
  it('are dropped when a model fails (select 1/0)', async () => {
    const broken = await sqlVariant('sql-div0', 'gold/sales_daily.sql', (sql) => `select * from (\n${sql.replace(/;\s*$/, '')}\n) s where 1 / 0 = 1\n`);
    const r = await transform(broken);
    expect(r.code, r.stderr).toBe(1);
    const runId = r.events.find((e) => e.event === 'run_started')!.run_id as number;
    expect(r.events.find((e) => e.event === 'run_finished')).toMatchObject({ status: 'failed' });
    expect(String(r.events.find((e) => e.event === 'run_finished')!.message)).toMatch(/division by zero/);
    expect(r.events.find((e) => e.event === 'staging_dropped')?.dropped).toEqual(expect.arrayContaining([`${target}_gold__run_${runId}`]));
    expect(await stagingSchemas()).toEqual([]);
  });

  it('are kept when an error test fails, and dropped by the next run', async () => {
    const failing = await sqlVariant('sql-failing-test', 'gold/customer_features.yml', (yml) =>
      yml.replace('accepted_values: { values: [Female, Male, Unknown] }', 'accepted_values: { values: [Female] }'));
    const r = await transform(failing);
    expect(r.code, r.stderr).toBe(1);
    expect(r.events.find((e) => e.event === 'run_finished')).toMatchObject({ error_code: 'TESTS_FAILED' });
    const runId = r.events.find((e) => e.event === 'run_started')!.run_id as number;
    const kept = [`${target}_gold__run_${runId}`, `${target}_silver__run_${runId}`];
    expect(r.events.find((e) => e.event === 'staging_kept')?.schemas).toEqual([...kept].reverse());
    expect(await stagingSchemas()).toEqual(kept);
    // The tables the failing test read are there to query.
    const [bad] = await query<{ n: number }>(`select count(*)::int as n from "${target}_gold__run_${runId}".customer_features where gender <> 'Female'`);
    expect(bad!.n).toBeGreaterThan(0);

    const next = await transform(path.join(ROOT, 'sql'));
    expect(next.code, next.stderr).toBe(0);
    expect(await stagingSchemas()).toEqual([]);
  });
});

describe('an incremental run that stops', () => {
  const daily = uniqueTarget('staging_fail_inc');
  const days = () => path.join(work, 'days');
  /** The schemas of `daily`'s runs: staging and update schemas. */
  const runSchemas = async () =>
    (await query<{ nspname: string }>(`select nspname from pg_namespace where nspname ~ $1 order by 1`, [`^${daily}_(silver|gold)__run_[0-9]+`])).map((r) => r.nspname);

  afterAll(async () => {
    await dropTarget(daily);
  });

  it('drops its update schemas with its staging schemas on its way out', async () => {
    const generated = await startCli(['generate', '--scale', '0.02', '--seed', '5', '--days', '1', '--out', days(), '--quiet'], { cwd: work });
    expect(generated.code, generated.stderr).toBe(0);
    const base = await startCli(['build', '--target', daily, '--sql', path.join(ROOT, 'sql'), '--seeds', path.join(days(), 'day-00'), '--skip-export'], { cwd: work });
    expect(base.code, base.stderr).toBe(0);

    // day-01 updates the incremental models by partitions, each in an update schema of the run;
    // the run is interrupted (what SIGTERM does) once one of them is there
    const stop = new AbortController();
    const onEvent = (e: LogEvent) => {
      if (e.event !== 'model_updated' || stop.signal.aborted) return;
      stop.abort(new InterruptedError('SIGTERM'));
    };
    const r = await startCli(['build', '--target', daily, '--sql', path.join(ROOT, 'sql'), '--seeds', path.join(days(), 'day-01'), '--skip-export'], { cwd: work, onEvent, signal: stop.signal });
    expect(r.code, r.stderr).toBe(143);
    expect(r.events.some((e) => e.event === 'model_updated')).toBe(true);
    const dropped = (r.events.find((e) => e.event === 'staging_dropped')?.dropped ?? []) as string[];
    const updateSchemas = dropped.filter((s) => /__run_[0-9]+_u[0-9]+$/.test(s));
    expect(updateSchemas.length, JSON.stringify(dropped)).toBeGreaterThan(0);
    expect(await runSchemas()).toEqual([]);
  });
});
