/**
 * A cron build that finds nothing changed since the published run does nothing: exit 0, one line
 * saying what it compared, no new publication, gold and the exports untouched, and a ledger row
 * that names the run it defers to. `--full-refresh`, a changed model and another as_of each make
 * the run build.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import reportSchema from '../../src/report/run-report.schema.json' with { type: 'json' };
import { publishedModels } from '../../src/runs/index.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, schemaNames, testClient, uniqueTarget } from '../support/database.ts';
import { workFolder } from '../runs/helpers.ts';

const target = uniqueTarget('noop');
const schemas = schemaNames(target);
let work: string;
let seeds: string;
let exportsDir: string;

function build(extra: string[] = [], format: 'json' | 'pretty' = 'json') {
  return runCli(['build', '--seeds', seeds, '--target', target, '--out', exportsDir, '--as-of', '2014-01-29', '--log-format', format, ...extra], { cwd: work });
}

const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const runIdOf = (stdout: string) => Number(events(stdout).find((e) => e.event === 'run_started')!.run_id);

async function publishedRun(): Promise<number> {
  const [r] = await query<{ run_id: number }>(`select run_id::int from ${schemas.etl}.runs where published_at is not null order by published_at desc limit 1`);
  return r!.run_id;
}

/** The published gold tables: their OIDs (a rebuild makes new ones) and contents. */
async function gold(): Promise<string> {
  const [r] = await query<{ s: string }>(
    `select string_agg(c.oid::text, ',' order by c.relname) || ':' || (select md5(string_agg(f::text, '|' order by f::text)) from ${schemas.gold}.fact_sales f) as s
       from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r'`,
    [schemas.gold],
  );
  return r!.s;
}

beforeAll(async () => {
  ({ work, seeds } = await workFolder('noop'));
  exportsDir = path.join(work, 'exports');
  const r = await build();
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await rm(work, { recursive: true, force: true });
});

describe('a build with nothing changed', () => {
  it('does nothing: exit 0, one line, no publication, gold and the exports untouched, the ledger names the run it defers to', async () => {
    const published = await publishedRun();
    const goldBefore = await gold();
    const manifestBefore = await readFile(path.join(exportsDir, '_manifest.json'), 'utf8');
    const r = await build([], 'pretty');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.includes('nothing changed'));
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^nothing changed since run ${published}: 6 source files \\(sha256\\), project [0-9a-f]{12} \\(\\d+ models, functions, medallion version\\), as_of 2014-01-29, exports .*-run-${published}$`))]);
    // nothing of the build's stages is said
    expect(r.stdout).not.toMatch(/silver \+ gold|tests: |exported |published /);
    expect(await publishedRun()).toBe(published);
    expect(await gold()).toBe(goldBefore);
    expect(await readFile(path.join(exportsDir, '_manifest.json'), 'utf8')).toBe(manifestBefore);
    const [run] = await query(
      `select status, exit_code, deferred_to::int, published_at is null as unpublished, summary -> 'noop' -> 'deferred_to' as noop, as_of::text,
              array(select s ->> 'stage' || ':' || (s ->> 'status') from jsonb_array_elements(stages) as s) as stages
         from ${schemas.etl}.runs order by run_id desc limit 1`,
    );
    expect(run).toEqual({
      status: 'success', exit_code: 0, deferred_to: published, unpublished: true, noop: published, as_of: '2014-01-29',
      stages: ['bronze:success', 'models_and_tests:skipped', 'rules:skipped', 'publish:skipped', 'export:skipped'],
    });
    // its report is a valid one of a successful run whose stages after bronze were skipped
    const noopRun = Number(r.stdout.match(/run (\d+) started/)?.[1]);
    const report = JSON.parse(await readFile(path.join(work, 'reports', target, `run-${noopRun}.json`), 'utf8'));
    const validate = new Ajv({ allErrors: true, strict: true }).compile(reportSchema);
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
    expect(report.run).toMatchObject({ run_id: noopRun, status: 'success' });
    // the next build's schedule still has the timings of the run that built
    const [timed] = await query<{ n: number }>(`select count(*)::int as n from ${schemas.etl}.test_results where run_id = $1`, [published]);
    expect(timed!.n).toBeGreaterThan(0);
  });

  it('--full-refresh loads and builds everything, and publishes', async () => {
    const before = await publishedRun();
    const r = await build(['--full-refresh']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const runId = runIdOf(r.stdout);
    expect(runId).toBeGreaterThan(before);
    expect(await publishedRun()).toBe(runId);
    // every file loaded again: the bronze rows carry this run's id
    expect(await query(`select distinct _run_id::int as run from ${schemas.bronze}.sales_details`)).toEqual([{ run: runId }]);
    const [row] = await query(`select deferred_to, project_sha256 is not null as hashed from ${schemas.etl}.runs where run_id = $1`, [runId]);
    expect(row).toEqual({ deferred_to: null, hashed: true });
  });

  it('a changed model builds, and the publication records each model’s hash', async () => {
    const client = await testClient('noop');
    const before = await publishedModels(client, schemas);
    try {
      const file = path.join(work, 'sql', 'gold', 'sales_daily.sql');
      await writeFile(file, `${await readFile(file, 'utf8')}\n-- one more line\n`);
      const r = await build();
      expect(r.code, r.stderr).toBe(0);
      expect(events(r.stdout).some((e) => e.event === 'nothing_changed')).toBe(false);
      expect(await publishedRun()).toBe(runIdOf(r.stdout));
      const after = await publishedModels(client, schemas);
      expect([...after.keys()]).toEqual([...before.keys()]);
      expect([...after].filter(([m, sha]) => before.get(m) !== sha).map(([m]) => m)).toEqual(['gold.sales_daily']);
      expect(after.get('gold.sales_daily')).toMatch(/^[0-9a-f]{64}$/);
      // and the next build with that model finds nothing changed again
      const again = await build();
      expect(events(again.stdout).find((e) => e.event === 'nothing_changed')?.deferred_to).toBe(runIdOf(r.stdout));
    } finally {
      await client.end();
    }
  });

  it('another as_of builds', async () => {
    const r = await runCli(['build', '--seeds', seeds, '--target', target, '--out', exportsDir, '--as-of', '2014-01-30'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(events(r.stdout).some((e) => e.event === 'nothing_changed')).toBe(false);
    expect(await publishedRun()).toBe(runIdOf(r.stdout));
    const [run] = await query<{ as_of: string }>(`select as_of::text from ${schemas.etl}.runs where run_id = $1`, [runIdOf(r.stdout)]);
    expect(run!.as_of).toBe('2014-01-30');
  });

  it('a changed source file builds; transform with nothing changed does nothing', async () => {
    const file = path.join(seeds, 'sales_details.csv');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/\r?\n[^\r\n]+(\r?\n)?$/, '$1'));
    const r = await runCli(['build', '--seeds', seeds, '--target', target, '--out', exportsDir, '--as-of', '2014-01-30'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(events(r.stdout).some((e) => e.event === 'nothing_changed')).toBe(false);
    const [change] = await query(`select status, removed::int from ${schemas.etl}.source_changes where run_id = $1 and source = 'sales_details'`, [runIdOf(r.stdout)]);
    expect(change).toEqual({ status: 'changed', removed: 1 });
    const t = await runCli(['transform', '--target', target, '--out', exportsDir, '--as-of', '2014-01-30'], { cwd: work });
    expect(t.code, t.stderr).toBe(0);
    expect(events(t.stdout).find((e) => e.event === 'nothing_changed')?.deferred_to).toBe(runIdOf(r.stdout));
  });

  it('a bronze table changed by hand since its load is not what the published run read: transform builds, a build loads the file again', async () => {
    await query(`update ${schemas.bronze}.sales_details set sls_quantity = sls_quantity where _line_number = 2`);
    const t = await runCli(['transform', '--target', target, '--out', exportsDir, '--as-of', '2014-01-30'], { cwd: work });
    expect(t.code, t.stderr).toBe(0);
    expect(events(t.stdout).some((e) => e.event === 'nothing_changed')).toBe(false);
    expect(await publishedRun()).toBe(runIdOf(t.stdout));
    const r = await runCli(['build', '--seeds', seeds, '--target', target, '--out', exportsDir, '--as-of', '2014-01-30'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(events(r.stdout).filter((e) => e.event === 'bronze_file_loaded').map((e) => e.source)).toEqual(['sales_details']);
  });
});
