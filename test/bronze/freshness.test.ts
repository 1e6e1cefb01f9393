/**
 * Source freshness: sql/sources.yml read and checked with file/line problems, `medallion source
 * freshness` against a real load (ages from mtimes set with utimes, "same as last load" from the
 * sha256 in etl.source_files), and the same check before `medallion load`: a warning goes on, a
 * file past its error_after fails the run before anything is loaded.
 */
import { chmod, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSourcesYml } from '../../src/transform/index.ts';
import { runCli, runCliUnprivileged } from '../support/cli.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';
import { type FixtureDir, headerOf, VALID_ROWS, writeSources } from '../support/source-fixtures.ts';

const SOURCES_YML = `version: 2
sources:
  - name: crm
    freshness:
      warn_after: { count: 24, period: hour }
      error_after: { count: 48, period: hour }
    tables:
      - name: cust_info
      - name: prd_info
      - name: sales_details
  - name: erp
    tables:
      - name: cust_az12
      - name: loc_a101
      - name: px_cat_g1v2
        meta: { warn_if_unchanged: false }
`;

const target = uniqueTarget('freshness');
let sources: FixtureDir;
let work: string;

beforeAll(async () => {
  sources = await writeSources();
  work = await mkdtemp(path.join(tmpdir(), 'medallion-freshness-'));
  await mkdir(path.join(work, 'sql'));
  await writeFile(path.join(work, 'sql', 'sources.yml'), SOURCES_YML);
});
afterAll(async () => {
  await dropTarget(target);
  await sources.cleanup();
  await rm(work, { recursive: true, force: true });
});

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
async function age(source: string, hours: number): Promise<void> {
  const file = path.join(sources.dir, `${source}.csv`);
  await utimes(file, hoursAgo(hours), hoursAgo(hours));
}
function events(stdout: string, name: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.event === name);
}
const freshness = () => runCli(['source', 'freshness', '--seeds', sources.dir, '--target', target], { cwd: work });
const load = () => runCli(['load', '--seeds', sources.dir, '--target', target], { cwd: work });

describe('sql/sources.yml', () => {
  it('reports every problem with its file, line and key', () => {
    const { problems } = parseSourcesYml(
      [
        'version: 2',
        'sources:',
        '  - name: crm',
        '    loaded_at_field: x',
        '    tables:',
        '      - name: customers',
        '      - name: sales_details',
        '        freshness: { warn_after: { count: 0, period: hour }, error_after: { count: 2, period: week } }',
        '      - name: sales_details',
        '  - name: erp',
        '    freshness: { warn_after: { count: 3, period: day }, error_after: { count: 1, period: day } }',
        '    tables: [{ name: cust_az12, meta: { warn_if_unchanged: "no" } }]',
      ].join('\n'),
      'sql/sources.yml',
    );
    expect(problems).toEqual([
      "sql/sources.yml:4: sources[0].loaded_at_field: unknown key 'loaded_at_field' (expected one of name, description, freshness, meta, tables)",
      "sql/sources.yml:6: sources[0].tables[0].name: 'customers' is not a source file; expected one of cust_info, cust_az12, loc_a101, prd_info, px_cat_g1v2, sales_details (src/bronze/contracts.ts)",
      'sql/sources.yml:8: sources[0].tables[1].freshness.warn_after.count: expected a whole number above 0, got number 0',
      "sql/sources.yml:8: sources[0].tables[1].freshness.error_after.period: expected one of minute, hour, day, got 'week'",
      "sql/sources.yml:9: sources[0].tables[2].name: 'sales_details' is declared twice",
      'sql/sources.yml:11: sources[1].freshness: warn_after is longer than error_after; a file would fail before it warns',
      "sql/sources.yml:12: sources[1].tables[0].meta.warn_if_unchanged: expected true or false, got 'no'",
    ]);
  });

  it('a table inherits its source freshness, its own replaces it, null removes it; unlisted tables get the defaults', () => {
    const { configs, problems } = parseSourcesYml(
      'version: 2\nsources:\n  - name: crm\n    freshness: { warn_after: { count: 2, period: day } }\n    meta: { warn_if_unchanged: false }\n    tables:\n      - name: cust_info\n      - name: prd_info\n        freshness: { error_after: { count: 30, period: minute } }\n      - name: sales_details\n        freshness: null\n',
      'sources.yml',
    );
    expect(problems).toEqual([]);
    const by = Object.fromEntries(configs.map((c) => [c.source, c]));
    expect(by.cust_info).toEqual({ source: 'cust_info', sourceGroup: 'crm', warnAfter: { count: 2, period: 'day' }, errorAfter: null, warnIfUnchanged: false });
    expect(by.prd_info).toMatchObject({ warnAfter: null, errorAfter: { count: 30, period: 'minute' } });
    expect(by.sales_details).toMatchObject({ warnAfter: null, errorAfter: null, warnIfUnchanged: false });
    expect(by.cust_az12).toEqual({ source: 'cust_az12', sourceGroup: null, warnAfter: null, errorAfter: null, warnIfUnchanged: true });
  });

  it('the project file is valid', async () => {
    const r = await runCli(['source', 'freshness', '--seeds', sources.dir, '--target', target]);
    expect(r.stderr).not.toContain('MODEL_FILE_INVALID');
    expect(events(r.stdout, 'source_freshness')).toHaveLength(6);
  });
});

describe('medallion source freshness', () => {
  it('before any load: ages only, every file passes, "same as last load" is unknown', async () => {
    const r = await freshness();
    expect(r.code).toBe(0);
    const e = events(r.stdout, 'source_freshness');
    expect(e.map((x) => x.source)).toEqual(['cust_info', 'cust_az12', 'loc_a101', 'prd_info', 'px_cat_g1v2', 'sales_details']);
    expect(e.every((x) => x.status === 'pass' && x.same_as_last_load === null)).toBe(true);
  });

  it('after a load: the same bytes warn (unless warn_if_unchanged is off), a changed file passes; ages warn, then fail', async () => {
    expect((await load()).code).toBe(0);
    await sources.write('cust_info', [headerOf('cust_info'), ...VALID_ROWS.cust_info.slice(0, 2)].join('\r\n'));
    let r = await freshness();
    expect(r.code).toBe(0);
    const by = () => Object.fromEntries(events(r.stdout, 'source_freshness').map((x) => [x.source, x]));
    expect(by().cust_info).toMatchObject({ status: 'pass', same_as_last_load: false });
    expect(by().sales_details).toMatchObject({ status: 'warn', same_as_last_load: true, level: 'warn' });
    expect(by().px_cat_g1v2).toMatchObject({ status: 'pass', same_as_last_load: true });

    await age('cust_info', 30);
    r = await freshness();
    expect(r.code).toBe(0);
    expect(by().cust_info).toMatchObject({ status: 'warn', same_as_last_load: false });
    expect((by().cust_info!.reasons as string[])[0]).toMatch(/^cust_info\.csv was modified 1\.\d d ago, more than warn_after \(24 hours\)$/);

    await age('cust_info', 50);
    r = await freshness();
    expect(r.code).toBe(1);
    expect(by().cust_info).toMatchObject({ status: 'error', level: 'error' });
    expect(events(r.stderr, 'run_finished')[0]).toMatchObject({ status: 'error', exit_code: 1 });

    // an erp file has no age limit: only its bytes count
    await age('loc_a101', 24 * 400);
    r = await freshness();
    expect(by().loc_a101).toMatchObject({ status: 'warn', same_as_last_load: true });
  });

  it('prints a table with source, file, modified, age, same as last load and status', async () => {
    const r = await runCli(['source', 'freshness', '--seeds', sources.dir, '--target', target, '--log-format', 'pretty'], { cwd: work, env: { DATABASE_URL: process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test' } });
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^source\s+file\s+modified\s+age\s+same as last load\s+status$/);
    expect(lines.find((l) => l.startsWith('cust_info '))).toMatch(/cust_info\.csv\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+2\.1 d\s+no\s+error$/);
    expect(lines.find((l) => l.startsWith('sales_details '))).toMatch(/\s+yes\s+warn$/);
    expect(r.stderr).toContain('medallion: source freshness: 1 pass, 4 warn, 1 error');
  });

  it('a missing file is an error; an unknown subcommand is a usage error', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'medallion-freshness-empty-'));
    try {
      const r = await runCli(['source', 'freshness', '--seeds', empty, '--target', target], { cwd: work });
      expect(r.code).toBe(1);
      expect(events(r.stdout, 'source_freshness').every((x) => x.status === 'error' && x.modified === null)).toBe(true);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
    const bad = await runCli(['source', 'fresh'], { cwd: work });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown subcommand 'fresh'");
  });
});

describe('a file this user may not read (mode 000)', () => {
  it('is an error of its own, with the others checked, not an internal error', async () => {
    await chmod(sources.dir, 0o755);
    await chmod(path.join(sources.dir, 'prd_info.csv'), 0o000);
    try {
      const r = await runCliUnprivileged(['source', 'freshness', '--seeds', sources.dir, '--target', target]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toContain('internal error');
      const byName = Object.fromEntries(events(r.stdout, 'source_freshness').map((x) => [x.source, x]));
      expect(byName.prd_info).toMatchObject({ status: 'error', modified: null });
      expect((byName.prd_info!.reasons as string[])[0]).toMatch(/^prd_info\.csv cannot be read: EACCES/);
      expect(byName.sales_details).toMatchObject({ same_as_last_load: true });
    } finally {
      await chmod(path.join(sources.dir, 'prd_info.csv'), 0o644);
    }
  });
});

describe('a ledger from before a column was added', () => {
  it('is read by source freshness, which does not change the ledger (etl.source_files without max_field_bytes)', async () => {
    await query(`alter table ${target}_etl.source_files drop column max_field_bytes`);
    const r = await freshness();
    expect(r.stderr).not.toContain('internal error');
    expect(events(r.stdout, 'source_freshness').find((x) => x.source === 'sales_details')).toMatchObject({ same_as_last_load: true });
  });
});

describe('the check before load', () => {
  it('a file past error_after fails the run before anything is loaded (SOURCE_STALE); a warning lets it load', async () => {
    const loadedBefore = await query<{ run_id: string }>(`select max(_run_id)::text as run_id from ${target}_bronze.sales_details`);
    // cust_info is 50 hours old (above)
    const failed = await load();
    expect(failed.code).toBe(1);
    const last = events(failed.stderr, 'run_finished')[0]!;
    expect(last).toMatchObject({ error_code: 'SOURCE_STALE', exit_code: 1 });
    expect(String(last.message)).toContain('more than error_after (48 hours)');
    expect(await query(`select max(_run_id)::text as run_id from ${target}_bronze.sales_details`)).toEqual(loadedBefore);
    const [run] = await query<{ status: string; error_code: string }>(`select status, error_code from ${target}_etl.runs order by run_id desc limit 1`);
    expect(run).toEqual({ status: 'failed', error_code: 'SOURCE_STALE' });

    await age('cust_info', 30);
    const warned = await load();
    expect(warned.code).toBe(0);
    const flagged = events(warned.stdout, 'source_freshness');
    expect(flagged.map((x) => x.source).sort()).toEqual(['cust_az12', 'cust_info', 'loc_a101', 'prd_info', 'sales_details']);
    // Before the load only ages are checked; "the same as the last load" comes after it, from the
    // hash the loader computed (the files are not read twice).
    expect(flagged.find((x) => x.source === 'cust_info')).toMatchObject({ status: 'warn', same_as_last_load: null });
    for (const s of ['cust_az12', 'loc_a101', 'prd_info', 'sales_details']) expect(flagged.find((x) => x.source === s), s).toMatchObject({ status: 'warn', same_as_last_load: true });
  });
});
