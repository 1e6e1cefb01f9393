/**
 * The whole `medallion build`, end to end, as cron runs it: a good run publishes silver, gold and
 * the Parquet exports; a run that fails (a failing error test, SIGTERM mid-build) changes nothing
 * that readers see and says why with its exit code.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/index.ts';
import { runCli } from '../support/cli.ts';
import { schemaNames } from '../../src/config.ts';
import { lastTimings } from '../../src/runs/ledger.ts';
import { loadProject } from '../../src/transform/index.ts';
import { dropTarget, query, TEST_DATABASE_URL, testClient, uniqueTarget } from '../support/database.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const target = uniqueTarget('pipeline');
let work: string;
let seeds: string;
let exportsDir: string;

async function published(): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  for (const t of ['silver.customers', 'silver.products', 'silver.sales_clean', 'gold.fact_sales', 'gold.customer_features', 'gold.sales_daily']) {
    const [schema, table] = t.split('.');
    const rows = await query<{ sum: string; n: number }>(`select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as sum, count(*)::int as n from ${target}_${schema}.${table} x`);
    sums[t] = `${rows[0]!.n}:${rows[0]!.sum}`;
  }
  sums.manifest = await readFile(path.join(exportsDir, '_manifest.json'), 'utf8');
  return sums;
}

function build(extra: string[] = []) {
  return runCli(['build', '--seeds', seeds, '--target', target, '--out', exportsDir, '--as-of', '2014-01-29', ...extra], { cwd: work });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'medallion-pipeline-'));
  seeds = path.join(work, 'seeds');
  exportsDir = path.join(work, 'exports');
  await cp(path.join(ROOT, 'sql'), path.join(work, 'sql'), { recursive: true });
  await generate({ scale: 0.03, seed: 5, outDir: seeds });
  const r = await build();
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await rm(work, { recursive: true, force: true });
});

describe('medallion build', () => {
  it('publishes silver, gold and the exports, and reconciles every sales line', async () => {
    const [bronze] = await query<{ n: number }>(`select count(*)::int as n from ${target}_bronze.sales_details`);
    const [fact] = await query<{ n: number }>(`select count(*)::int as n from ${target}_gold.fact_sales`);
    const [quarantined] = await query<{ n: number }>(
      `select count(*)::int as n from ${target}_etl.quarantine where run_id = (select max(run_id) from ${target}_etl.runs) and model = 'silver.sales_clean'`,
    );
    const [collapsed] = await query<{ n: number }>(
      `select coalesce(sum(rows), 0)::int as n from ${target}_etl.rule_counts where run_id = (select max(run_id) from ${target}_etl.runs) and rule = 'sales_exact_duplicate_collapsed'`,
    );
    expect(fact!.n + quarantined!.n + collapsed!.n).toBe(bronze!.n);
    const manifest = JSON.parse(await readFile(path.join(exportsDir, '_manifest.json'), 'utf8'));
    expect(manifest.tables.fact_sales.rows).toBe(fact!.n);
    expect(manifest.as_of).toBe('2014-01-29');
    // exported from the tested staging schema, recorded under the name it is published as
    expect(manifest.tables.fact_sales.source).toBe(`${target}_gold.fact_sales`);
    const [run] = await query(`select status, exit_code, as_of::text from ${target}_etl.runs order by run_id desc limit 1`);
    expect(run).toEqual({ status: 'success', exit_code: 0, as_of: '2014-01-29' });
    // the stages of a build, the tests scheduled with the models
    const [stages] = await query<{ names: string[] }>(`select array(select s ->> 'stage' from jsonb_array_elements(stages) as s) as names from ${target}_etl.runs order by run_id desc limit 1`);
    expect(stages!.names).toEqual(['bronze', 'models_and_tests', 'rules', 'publish', 'export']); // publish ends inside export, before the files are swapped in
  });

  it('the next run finds the timings of every model and test of this one, to order its schedule', async () => {
    const client = await testClient('timings');
    try {
      const timings = await lastTimings(client, schemaNames(target));
      const project = await loadProject({ sqlDir: path.join(work, 'sql') });
      expect([...timings.models.keys()].sort()).toEqual(project.models.map((m) => m.name).sort());
      expect([...timings.tests.keys()].sort()).toEqual(project.models.flatMap((m) => m.tests.map((t) => t.name)).sort());
      for (const seconds of [...timings.models.values(), ...timings.tests.values()]) expect(seconds).toBeGreaterThanOrEqual(0);
    } finally {
      await client.end();
    }
  });

  it('medallion export re-exports the published gold with the provenance of the run that built it', async () => {
    const [build] = await query<{ run_id: number }>(`select max(run_id)::int as run_id from ${target}_etl.runs where command = 'build' and status = 'success'`);
    const files = await query<{ file: string; sha256: string }>(`select file, sha256 from ${target}_etl.source_files where run_id = $1 order by file`, [build!.run_id]);
    const out = path.join(work, 'reexport');
    const r = await runCli(['export', '--target', target, '--out', out], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(path.join(out, '_manifest.json'), 'utf8'));
    expect(manifest.run_id).toBe(build!.run_id);
    expect(manifest.as_of).toBe('2014-01-29');
    expect(manifest.inputs.map((f: { file: string; sha256: string }) => ({ file: f.file, sha256: f.sha256 })).sort((a: { file: string }, b: { file: string }) => a.file.localeCompare(b.file))).toEqual(files);
    expect(manifest.tables.fact_sales.source).toBe(`${target}_gold.fact_sales`);

    // --tables: only the tables asked for; a name that is not a gold export is a usage error
    const only = path.join(work, 'only-fact');
    const one = await runCli(['export', '--target', target, '--out', only, '--tables', 'fact_sales'], { cwd: work });
    expect(one.code, one.stderr).toBe(0);
    expect((await readdir(only)).sort()).toEqual(['.medallion', '_manifest.json', 'fact_sales']);
    const bad = await runCli(['export', '--target', target, '--out', only, '--tables', 'fact_sales,bronze_sales'], { cwd: work });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tables.*bronze_sales/);
  });

  it('exits 1 and changes nothing published when an error test fails', async () => {
    const before = await published();
    const yml = path.join(work, 'sql/gold/sales_daily.yml');
    const original = await readFile(yml, 'utf8');
    await writeFile(yml, `${original.trimEnd()}\n      - dbt_utils.expression_is_true: { name: planted_failure, expression: "revenue < 0" }\n`);
    try {
      const r = await build();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('TESTS_FAILED');
      expect(r.stderr).toContain('planted_failure');
    } finally {
      await writeFile(yml, original);
    }
    expect(await published()).toEqual(before);
    const [result] = await query(`select status, failing_rows > 0 as failed from ${target}_etl.test_results where test_name = 'planted_failure'`);
    expect(result).toEqual({ status: 'fail', failed: true });
  });

  it('exits 143 on SIGTERM mid-build, records the run as interrupted, and changes nothing published', async () => {
    const before = await published();
    // Another as_of than the published run's: a build with nothing changed would build nothing.
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/medallion.js'), 'build', '--seeds', seeds, '--target', target, '--out', exportsDir, '--as-of', '2014-01-28', '--log-format', 'json'], {
      cwd: work,
      env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL },
    });
    let out = '';
    let signalled = false;
    child.stdout.on('data', (d) => {
      out += d;
      // The models are being built: the bronze load has committed, nothing of silver/gold is published yet.
      if (!signalled && out.includes('"event":"as_of"')) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(signalled).toBe(true);
    expect(code).toBe(143);
    expect(out).toContain('INTERRUPTED');
    const [run] = await query(`select status, exit_code from ${target}_etl.runs order by run_id desc limit 1`);
    expect(run).toEqual({ status: 'interrupted', exit_code: 143 });
    expect(await published()).toEqual(before);
  });
});
