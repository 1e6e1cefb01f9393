/**
 * `medallion export`: --select / --exclude (dbt's syntax, as for build) or --tables pick the gold tables;
 * a target that has published nothing gets a one-line error and no ledger schema; on a terminal
 * each table shows a live line, off a terminal none.
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { type ExportProgress, exportGold } from '../../src/export/index.ts';
import { generate } from '../../src/generate/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, TEST_DATABASE_URL, testConnection, uniqueTarget } from '../support/database.ts';
import { fakeTty } from '../support/tty.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const target = uniqueTarget('cli_export_sel');
const empty = uniqueTarget('cli_export_none');
let work: string;

const schemasOf = async (t: string) =>
  (await query<{ nspname: string }>('select nspname from pg_namespace where starts_with(nspname, $1) order by 1', [`${t}_`])).map((r) => r.nspname);
const entries = async (dir: string) => (await readdir(dir)).filter((e) => e !== '.medallion').sort();

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'medallion-cli-export-sel-'));
  await cp(path.join(ROOT, 'sql'), path.join(work, 'sql'), { recursive: true });
  await generate({ scale: 0.02, seed: 3, outDir: path.join(work, 'seeds') });
  const built = await runCli(['build', '--seeds', path.join(work, 'seeds'), '--target', target, '--skip-export', '--as-of', '2014-01-29'], { cwd: work });
  expect(built.code, built.stderr).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await dropTarget(empty);
  await rm(work, { recursive: true, force: true });
});

describe('medallion export --select / --exclude', () => {
  it('exports only the gold tables the selection picks', async () => {
    const one = path.join(work, 'one');
    const r = await runCli(['export', '--target', target, '--out', one, '--select', 'gold.sales_daily'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(await entries(one)).toEqual(['_manifest.json', 'sales_daily.parquet']);

    const two = path.join(work, 'two');
    const x = await runCli(['export', '--target', target, '--out', two, '--select', 'gold', '--exclude', 'gold.fact_sales'], { cwd: work });
    expect(x.code, x.stderr).toBe(0);
    expect(await entries(two)).toEqual(['_manifest.json', 'customer_features.parquet', 'customer_training_set', 'sales_daily.parquet']);

    const three = path.join(work, 'three');
    const t = await runCli(['export', '--target', target, '--out', three, '--tables', 'customer_training_set,sales_daily'], { cwd: work });
    expect(t.code, t.stderr).toBe(0);
    expect(await entries(three)).toEqual(['_manifest.json', 'customer_training_set', 'sales_daily.parquet']);
  });

  it('refuses a selection with no exported table, a selector that matches nothing, and --tables with --select (exit 2, no run)', async () => {
    const runs = async () => (await query<{ n: number }>(`select count(*)::int as n from ${target}_etl.runs`))[0]!.n;
    const before = await runs();
    const out = path.join(work, 'refused');
    const silver = await runCli(['export', '--target', target, '--out', out, '--select', 'silver.customers'], { cwd: work });
    expect(silver.code).toBe(2);
    expect(silver.stderr).toMatch(/picks no exported gold table \(it picks silver\.customers\)/);
    const typo = await runCli(['export', '--target', target, '--out', out, '--select', 'gold.fact_sale'], { cwd: work });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/--select 'gold\.fact_sale' matches no model/);
    const both = await runCli(['export', '--target', target, '--out', out, '--select', 'gold.fact_sales', '--tables', 'fact_sales'], { cwd: work });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--tables and --select\/--exclude/);
    expect(await runs()).toBe(before);
  });
});

describe('medallion export on a target that has published nothing', () => {
  it('fails in one line (exit 1, EXPORT_FAILED) and creates no ledger schema, nor does a bad --out', async () => {
    const r = await runCli(['export', '--target', empty, '--out', path.join(work, 'none')], { cwd: work, env: { DATABASE_URL: TEST_DATABASE_URL, ETL_LOG_FORMAT: 'pretty' } });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^medallion: export failed \\(exit 1\\): \\[EXPORT_FAILED\\] nothing is published on target ${empty} yet\\.`));
    expect(await schemasOf(empty)).toEqual([]);

    const bad = await runCli(['export', '--target', empty, '--out', path.join(ROOT, 'package.json')], { cwd: work });
    expect(bad.code).toBe(2);
    expect(await schemasOf(empty)).toEqual([]);
  });
});

describe('the live export line', () => {
  it('shows on a terminal (the format follows the command’s stream), and off a terminal nothing but the events', async () => {
    const tty = fakeTty(120, 30);
    const env = { DATABASE_URL: TEST_DATABASE_URL };
    const code = await main(['export', '--target', target, '--out', path.join(work, 'tty')], { stdout: tty, stderr: tty, env, cwd: work, signal: new AbortController().signal });
    expect(code, tty.text()).toBe(0);
    const text = tty.text();
    for (const table of ['fact_sales', 'customer_features', 'sales_daily', 'customer_training_set']) expect(text).toMatch(new RegExp(`  exporting ${table}(:| )`));
    // The live line is erased before the table's permanent line.
    expect(text).toMatch(/ {2}exporting fact_sales[^\n]*\r\x1b\[J {2}exported fact_sales/);

    const pipe = new PassThrough();
    let piped = '';
    pipe.on('data', (d) => (piped += d));
    expect(await main(['export', '--target', target, '--out', path.join(work, 'pipe')], { stdout: pipe, stderr: pipe, env, cwd: work, signal: new AbortController().signal })).toBe(0);
    // Off a terminal the default format is JSON, with no live line and no escape codes.
    expect(piped).not.toMatch(/exporting fact_sales|\x1b\[/);
    expect(piped.trim().split('\n').map((l) => JSON.parse(l).event)).toContain('export_table');
  });
});

describe('the progress sampler', () => {
  it('reports the table at its start, then the rows and bytes Postgres has sent while the COPY runs', async () => {
    // A view whose rows come 2 ms apart: its COPY lasts about 0.8 s whatever the machine's speed.
    const scratch = `${target}_scratch`;
    await query(`create schema ${scratch}`);
    await query(`create function ${scratch}.slow(i int) returns int language sql volatile as 'select $1 from pg_sleep(0.002)'`);
    await query(`create view ${scratch}.slow_rows as select ${scratch}.slow(i) as id, repeat('x', 100) as pad from generate_series(1, 400) i`);
    const seen: ExportProgress[] = [];
    const result = await exportGold({
      connection: testConnection(),
      schemas: { gold: scratch },
      exportsDir: path.join(work, 'slow'),
      runId: 1,
      asOf: null,
      inputFiles: [],
      rowGroupSize: 131072,
      compression: 'zstd',
      tables: ['slow_rows'],
      folderTable: 'none',
      onProgress: (p) => seen.push({ ...p }),
    });
    expect(result.manifest.tables.slow_rows!.rows).toBe(400);
    expect(seen[0]).toEqual({ table: 'slow_rows', rows: 0, bytes: 0, seconds: 0 });
    const during = seen.filter((p) => p.rows > 0 && p.rows < 400);
    expect(during.length, JSON.stringify(seen)).toBeGreaterThan(0);
    expect(during.every((p) => p.bytes > p.rows * 100)).toBe(true);
    // Counts only grow.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.rows).toBeGreaterThanOrEqual(seen[i - 1]!.rows);
  });
});
