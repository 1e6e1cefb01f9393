/**
 * The run summary (etl.runs.summary) has one shape, run-summary.schema.json: what a build, a failed
 * load and `medallion export` write validates against it, both write their exports the same way,
 * and a ledger's rows in the unversioned shape are brought to it by ensureLedger, once.
 */
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/index.ts';
import { collectRunReport } from '../../src/report/collect.ts';
import { ensureLedger } from '../../src/runs/ledger.ts';
import { RUN_SUMMARY_VERSION, type RunSummary, summaryProblems } from '../../src/runs/summary.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, testClient, uniqueTarget } from '../support/database.ts';
import { ROOT } from './helpers.ts';

const problems = async (summary: unknown) => (await summaryProblems(summary)) ?? '';

const target = uniqueTarget('summary');
const oldTarget = uniqueTarget('summary_old');
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'medallion-summary-'));
  await cp(path.join(ROOT, 'sql'), path.join(work, 'sql'), { recursive: true });
  await generate({ scale: 0.02, seed: 21, outDir: path.join(work, 'seeds') });
});

afterAll(async () => {
  await dropTarget(target);
  await dropTarget(oldTarget);
  await rm(work, { recursive: true, force: true });
});

describe('what runs write', () => {
  it('a build, a failed load and `medallion export` write summaries that validate, with one exports shape', async () => {
    const built = await runCli(['build', '--seeds', path.join(work, 'seeds'), '--target', target, '--out', path.join(work, 'out-build'), '--as-of', '2014-01-29'], { cwd: work });
    expect(built.code, built.stderr).toBe(0);
    // A seeds folder without the source files: the run starts, and its load fails.
    await mkdir(path.join(work, 'empty-seeds'), { recursive: true });
    const failed = await runCli(['load', '--seeds', path.join(work, 'empty-seeds'), '--target', target], { cwd: work });
    expect(failed.code).toBe(1);
    const exported = await runCli(['export', '--target', target, '--out', path.join(work, 'out-export')], { cwd: work });
    expect(exported.code, exported.stderr).toBe(0);

    const runs = await query<{ run_id: number; command: string; status: string; summary: RunSummary }>(
      `select run_id::int, command, status, summary from ${target}_etl.runs order by run_id`,
    );
    expect(runs.map((r) => [r.command, r.status])).toEqual([['build', 'success'], ['load', 'failed'], ['export', 'success']]);
    for (const r of runs) expect(await problems(r.summary), `${r.command} run ${r.run_id}`).toBe('');
    const [build, load, exportRun] = runs as [(typeof runs)[0], (typeof runs)[0], (typeof runs)[0]];

    expect(build.summary).toMatchObject({ version: RUN_SUMMARY_VERSION, as_of: '2014-01-29' });
    expect(build.summary.bronze).toHaveLength(6);
    expect(build.summary.models!.find((m) => m.model === 'gold.fact_sales')).toMatchObject({ status: 'success', materialized: 'table', quarantine: false });
    expect(build.summary.models!.find((m) => m.model === 'gold.fact_sales')!.depends_on).toContain('silver.sales_clean');
    expect(load.summary).toEqual({ version: RUN_SUMMARY_VERSION });

    // The same record from both writers: the build exported its own gold, the export the build's.
    const tables = (s: RunSummary) => s.exports!.tables.map((t) => [t.table, t.rows, t.files!.length > 0]);
    expect(build.summary.exports).toMatchObject({ dir: path.join(work, 'out-build'), source_run_id: build.run_id });
    expect(exportRun.summary.exports).toMatchObject({ dir: path.join(work, 'out-export'), source_run_id: build.run_id });
    expect(tables(exportRun.summary)).toEqual(tables(build.summary));
    expect(Object.keys(exportRun.summary).sort()).toEqual(['exports', 'version']);
  });

  it('the schema refuses the unversioned shapes', async () => {
    expect(await problems({ export: { dir: 'exports', source_run_id: 1, tables: { fact_sales: 10 } } })).toContain("must have required property 'version'");
    expect(await problems({ version: 1, exports: [{ table: 'fact_sales', rows: 10, files: [] }] })).toContain('/exports must be object');
    expect(await problems({ version: 1, bronze: [{ source: 'cust_info', rowsLoaded: 3 }] })).toContain('must NOT have additional properties');
  });
});

describe('a ledger written before summaries had a version', () => {
  const schemas = schemaNames(oldTarget);
  const e = `"${schemas.etl}"`;
  let client: pg.Client;
  const ids: Record<'build' | 'export' | 'failed', number> = { build: 0, export: 0, failed: 0 };
  const bronzeFile = {
    source: 'cust_info', file: 'seeds/cust_info.csv', sha256: 'a'.repeat(64), bytes: 1200, lineEnding: 'CRLF', encoding: 'UTF-8',
    lines: 12, rowLines: 10, records: 10, rowsLoaded: 9, rejects: 1, rejectsByReason: { field_count: 1 }, blankLines: 1, seconds: 0.25,
  };
  // A loader that did not count physical lines yet.
  const olderBronzeFile = { ...bronzeFile, source: 'prd_info', file: 'seeds/prd_info.csv', lines: undefined, rowLines: undefined };
  const models = [{ model: 'gold.fact_sales', status: 'success', seconds: 1.5, rows: 9, materialized: 'table' }];
  const oldExports = [{ table: 'fact_sales', rows: 9, files: [{ path: 'exports/fact_sales/part-0.parquet', bytes: 4096 }] }];

  beforeAll(async () => {
    client = await testClient();
    await ensureLedger(client, schemas);
    const insert = async (command: string, status: string, summary: unknown) =>
      Number((await client.query(`insert into ${e}.runs (target, command, status, summary) values ($1, $2, $3, $4::jsonb) returning run_id`, [oldTarget, command, status, JSON.stringify(summary)])).rows[0].run_id);
    ids.build = await insert('build', 'success', {
      abandoned_runs: [1], bronze: [bronzeFile, olderBronzeFile], inputs: [{ file: 'seeds/cust_info.csv', sha256: 'a'.repeat(64), bytes: 1200 }],
      as_of: '2014-01-29', models, tests: { pass: 3, warn: 1, fail: 0, error: 0 },
      rules: [{ model: 'silver.customers', rule: 'customer_name_trimmed', kind: 'repair', rows: 2, description: null }], quarantined: 1, exports: oldExports,
    });
    ids.export = await insert('export', 'success', { export: { dir: '/data/exports', source_run_id: ids.build, tables: { sales_daily: 4, fact_sales: 9 } } });
    ids.failed = await insert('load', 'failed', {});
    await ensureLedger(client, schemas);
  });

  afterAll(async () => {
    await client?.end();
  });

  const summaries = async () => new Map((await client.query<{ run_id: string; summary: RunSummary }>(`select run_id, summary from ${e}.runs`)).rows.map((r) => [Number(r.run_id), r.summary]));

  it('ensureLedger migrates every row to the current shape, which validates', async () => {
    const rows = await summaries();
    for (const [runId, summary] of rows) expect(await problems(summary), `run ${runId}`).toBe('');
    expect(rows.get(ids.build)).toEqual({
      version: RUN_SUMMARY_VERSION,
      abandoned_runs: [1],
      bronze: [
        { source: 'cust_info', file: 'seeds/cust_info.csv', sha256: 'a'.repeat(64), bytes: 1200, line_ending: 'CRLF', encoding: 'UTF-8', lines: 12, row_lines: 10, records: 10, rows_loaded: 9, rejects: 1, rejects_by_reason: { field_count: 1 }, blank_lines: 1, seconds: 0.25 },
        { source: 'prd_info', file: 'seeds/prd_info.csv', sha256: 'a'.repeat(64), bytes: 1200, line_ending: 'CRLF', encoding: 'UTF-8', records: 10, rows_loaded: 9, rejects: 1, rejects_by_reason: { field_count: 1 }, blank_lines: 1, seconds: 0.25 },
      ],
      inputs: [{ file: 'seeds/cust_info.csv', sha256: 'a'.repeat(64), bytes: 1200 }],
      as_of: '2014-01-29',
      models,
      tests: { pass: 3, warn: 1, fail: 0, error: 0 },
      rules: [{ model: 'silver.customers', rule: 'customer_name_trimmed', kind: 'repair', rows: 2, description: null }],
      quarantined: 1,
      exports: { source_run_id: ids.build, tables: oldExports },
    });
    expect(rows.get(ids.export)).toEqual({
      version: RUN_SUMMARY_VERSION,
      exports: { dir: '/data/exports', source_run_id: ids.build, tables: [{ table: 'fact_sales', rows: 9 }, { table: 'sales_daily', rows: 4 }] },
    });
    expect(rows.get(ids.failed)).toEqual({ version: RUN_SUMMARY_VERSION });
  });

  it('runs again without changing a migrated row', async () => {
    const before = await summaries();
    await ensureLedger(client, schemas);
    expect(await summaries()).toEqual(before);
  });

  it('the run report of a migrated export run lists its exports', async () => {
    const report = await collectRunReport({ client, schemas, runId: ids.export });
    expect(report.exports).toEqual([
      { table: 'fact_sales', rows: 9, files: 0, bytes: null, path: null },
      { table: 'sales_daily', rows: 4, files: 0, bytes: null, path: null },
    ]);
    const build = await collectRunReport({ client, schemas, runId: ids.build });
    expect(build.exports).toEqual([{ table: 'fact_sales', rows: 9, files: 1, bytes: 4096, path: 'exports/fact_sales/part-0.parquet' }]);
  });
});
