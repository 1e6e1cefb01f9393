/**
 * exportGold: the layout under the output folder, the manifest, Hive partitioning, and the atomic
 * publish (a failed or interrupted export leaves the previous export exactly as it was).
 */
import { mkdtemp, readdir, readFile, readlink, rm, stat, symlink, unlink, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { exportGold, type ExportGoldOptions, type Manifest } from '../../src/export/export-gold.ts';
import { InterruptedError } from '../../src/errors.ts';
import { finishCommittedExport } from '../../src/export/exports-dir.ts';
import { type ActiveQuery, waitForActiveQuery } from '../support/activity.ts';
import { readMetadata, readParquet, sha256, testConnection, withSchema } from './helpers.ts';

let client: Client;
let schema: string;
let drop: () => Promise<void>;
let root: string;

beforeAll(async () => {
  ({ client, schema, drop } = await withSchema('export_gold'));
  root = await mkdtemp(path.join(tmpdir(), 'export-gold-'));
  await client.query(`
    create table ${schema}.fact_sales as
      select 'SO' || g as order_number, g::bigint as customer_id, date '2011-01-01' + (g % 1200) as order_date,
             extract(year from date '2011-01-01' + (g % 1200))::integer as order_year,
             round((g * 1.1)::numeric, 2) as sales_amount, case when g % 10 = 0 then null else g % 7 end as prior_orders
        from generate_series(1, 3000) g;
    create table ${schema}.customer_features as
      select g::bigint as customer_id, 'Name ' || g as customer_name, round((g * 3.3)::numeric, 2) as monetary, g % 5 + 1 as r_score
        from generate_series(1, 500) g;
    create table ${schema}.sales_daily as
      select date '2011-01-01' + g as date, 'Bikes' as category, g % 4 as orders, round((g * 10.5)::numeric, 2) as revenue
        from generate_series(0, 99) g;
    create table ${schema}.customer_training_set as
      select (g % 40)::bigint as customer_id, date '2013-01-01' + (g / 40) * 30 as cutoff_date, g % 9 as recency_days,
             'Loyal' as rfm_segment, 90 as label_days, round((g * 2.5)::numeric, 2) as next_spend, g % 3 = 0 as ordered_again
        from generate_series(0, 119) g;
    create view ${schema}.exploding as
      select g, 1 / (g - 2500) as boom, repeat('x', 100) as pad from generate_series(1, 5000) g;
  `);
});

afterAll(async () => {
  await drop?.();
  if (root) await rm(root, { recursive: true, force: true });
});

function options(exportsDir: string, extra: Partial<ExportGoldOptions> = {}): ExportGoldOptions {
  return {
    connection: testConnection(),
    schemas: { gold: schema },
    exportsDir,
    runId: 42,
    asOf: '2014-01-29',
    inputFiles: [{ file: 'seeds/bronze/sales_details.csv', sha256: 'a'.repeat(64), bytes: 123 }],
    rowGroupSize: 2048,
    compression: 'zstd',
    ...extra,
  };
}

/**
 * Every file a reader sees under dir (through the links, without the .medallion state folder)
 * with its SHA-256: the "exactly as it was" check.
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string) {
    for (const e of await readdir(d)) {
      if (d === dir && e === '.medallion') continue;
      const p = path.join(d, e);
      if ((await stat(p)).isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = await sha256(p);
    }
  }
  await walk(dir);
  return out;
}

/** What an export may leave besides the current version and the one before: nothing. */
async function leftovers(dir: string): Promise<string[]> {
  const staging = await readdir(path.join(dir, '.medallion', 'staging'));
  const versions = await readdir(path.join(dir, '.medallion', 'versions'));
  return [...staging.map((s) => `staging/${s}`), ...versions.slice(0, -2).map((v) => `versions/${v}`)];
}

describe('exportGold', () => {
  it('writes the gold exports and a manifest whose hashes, counts and types match', async () => {
    const out = path.join(root, 'plain', 'exports');
    const result = await exportGold(options(out));
    expect((await readdir(out)).sort()).toEqual(['.medallion', '_manifest.json', 'customer_features.parquet', 'customer_training_set', 'fact_sales', 'sales_daily.parquet']);
    // one plain file per bucket of customer_id (customers 0..39, modulo 256)
    expect((await readdir(path.join(out, 'customer_training_set'))).sort()).toEqual(Array.from({ length: 40 }, (_, b) => `part-bucket-${String(b).padStart(3, '0')}.parquet`));
    // one plain file per order month (2011-01-01 + 0..1199 days: 2011-01 to 2014-04)
    const months = (await client.query<{ m: string }>(`select distinct to_char(order_date, 'YYYY-MM') as m from ${schema}.fact_sales order by 1`)).rows.map((r) => r.m);
    expect(months).toHaveLength(40);
    expect((await readdir(path.join(out, 'fact_sales'))).sort()).toEqual(months.map((m) => `part-${m}.parquet`));
    expect(await leftovers(out)).toEqual([]);

    const manifest = JSON.parse(await readFile(path.join(out, '_manifest.json'), 'utf8')) as Manifest;
    expect(manifest).toMatchObject({ run_id: 42, as_of: '2014-01-29', compression: 'zstd', row_group_size: 2048, partition_by: null });
    expect(manifest.inputs).toEqual([{ file: 'seeds/bronze/sales_details.csv', sha256: 'a'.repeat(64), bytes: 123 }]);
    expect(manifest).toEqual(JSON.parse(JSON.stringify(result.manifest)));
    const counts = { fact_sales: 3000, customer_features: 500, sales_daily: 100, customer_training_set: 120 };
    for (const [table, rows] of Object.entries(counts)) {
      const t = manifest.tables[table]!;
      expect(t.rows).toBe(rows);
      expect(t.source).toBe(`${schema}.${table}`);
      for (const f of t.files) {
        const file = path.join(out, f.path);
        expect(f.sha256).toBe(await sha256(file));
        expect(f.bytes).toBe((await stat(file)).size);
        expect(f.rows).toBe((await readParquet(file)).length);
        const kv = Object.fromEntries(((await readMetadata(file)).key_value_metadata ?? []).map((e) => [e.key, e.value]));
        expect(kv['medallion.run_id']).toBe('42');
        expect(kv['medallion.as_of']).toBe('2014-01-29');
        expect(JSON.parse(kv['medallion.inputs']!)).toEqual([{ file: 'seeds/bronze/sales_details.csv', sha256: 'a'.repeat(64) }]);
      }
    }
    const fact = manifest.tables.fact_sales!;
    expect(fact.files.map((f) => f.path)).toEqual(months.map((m) => `fact_sales/part-${m}.parquet`));
    expect(fact.files.map((f) => f.month)).toEqual(months);
    expect(fact.files.every((f) => f.row_groups === 1 && f.reused_from === undefined && /^-?\d+$/.test(f.fingerprint!))).toBe(true);
    expect(result.files).toEqual({ written: 82, reused: 0 });
    const training = manifest.tables.customer_training_set!;
    expect(training.bucket_by).toEqual({ column: 'customer_id', buckets: 256 });
    expect(training.files.map((f) => f.bucket)).toEqual(Array.from({ length: 40 }, (_, b) => String(b).padStart(3, '0')));
    expect(fact.columns.map((c) => [c.name, c.postgres, c.parquet, c.pandas])).toEqual([
      ['order_number', 'text', 'BYTE_ARRAY STRING', 'str'],
      ['customer_id', 'bigint', 'INT64', 'Int64'],
      ['order_date', 'date', 'INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=false)', 'datetime64[ms]'],
      ['order_year', 'integer', 'INT64', 'Int64'],
      ['sales_amount', 'numeric', 'DOUBLE', 'float64'],
      ['prior_orders', 'integer', 'INT64', 'Int64'],
    ]);
    // Money survives as float64 with the same sum as Postgres.
    const rows = (await Promise.all(fact.files.map((f) => readParquet(path.join(out, f.path))))).flat();
    const { rows: [pg] } = await client.query(`select sum(sales_amount)::float8 as s, count(*) - count(prior_orders) as nulls from ${schema}.fact_sales`);
    expect(rows.reduce((s, r) => s + (r.sales_amount as number), 0)).toBeCloseTo(pg.s, 6);
    expect(rows.filter((r) => r.prior_orders === null).length).toBe(Number(pg.nulls));
  });

  it("writes customer_training_set's roles and descriptions into its file's medallion.columns and the manifest", async () => {
    const out = path.join(root, 'roles', 'exports');
    const docs = {
      customer_id: { description: 'Customer id.', role: 'key' },
      cutoff_date: { description: 'The cutoff.', role: 'key' },
      recency_days: { description: 'Days since the last order before the cutoff.', role: 'feature' },
      rfm_segment: { description: 'Segment at the cutoff.', role: 'feature' },
      label_days: { description: 'Length of the label window.', role: 'attribute' },
      next_spend: { description: 'Spend in the label window.', role: 'label' },
      ordered_again: { description: 'Ordered in the label window.', role: 'label' },
    };
    const result = await exportGold(options(out, { tables: ['customer_training_set'], columnDocs: { customer_training_set: docs } }));
    const expected = Object.entries(docs).map(([name, doc]) => ({ name, ...doc }));
    const table = result.manifest.tables.customer_training_set!;
    expect(table.left_out).toEqual([]);
    expect(table.columns.map((c) => ({ name: c.name, description: c.description, role: c.role }))).toEqual(expected);
    expect(table.columns.map((c) => [c.name, c.pandas])).toEqual([
      ['customer_id', 'Int64'], ['cutoff_date', 'datetime64[ms]'], ['recency_days', 'Int64'], ['rfm_segment', 'str'],
      ['label_days', 'Int64'], ['next_spend', 'float64'], ['ordered_again', 'boolean'],
    ]);
    const kv = Object.fromEntries(((await readMetadata(path.join(out, 'customer_training_set', 'part-bucket-000.parquet'))).key_value_metadata ?? []).map((e) => [e.key, e.value]));
    const inFile = JSON.parse(kv['medallion.columns']!) as { name: string; description?: string; role?: string }[];
    expect(inFile.map((c) => ({ name: c.name, description: c.description, role: c.role }))).toEqual(expected);
  });

  it('partitions fact_sales into Hive folders by order_year', async () => {
    const out = path.join(root, 'partitioned', 'exports');
    const result = await exportGold(options(out, { partitionBy: 'order_year', compression: 'snappy' }));
    const { rows: years } = await client.query(`select order_year, count(*)::int as n from ${schema}.fact_sales group by 1 order by 1`);
    expect((await readdir(path.join(out, 'fact_sales'))).sort()).toEqual(years.map((y) => `order_year=${y.order_year}`));
    for (const y of years) {
      const file = path.join(out, 'fact_sales', `order_year=${y.order_year}`, 'part-00000.parquet');
      const rows = await readParquet(file);
      expect(rows).toHaveLength(y.n);
      // Hive layout: the partition column is in the folder name, not in the file.
      expect(Object.keys(rows[0]!)).toEqual(['order_number', 'customer_id', 'order_date', 'sales_amount', 'prior_orders']);
      const { rows: pg } = await client.query(`select order_number from ${schema}.fact_sales where order_year = $1 order by 1`, [y.order_year]);
      expect(rows.map((r) => r.order_number).sort()).toEqual(pg.map((r) => r.order_number));
    }
    const files = result.manifest.tables.fact_sales!.files;
    expect(files.map((f) => f.partition)).toEqual(years.map((y) => ({ order_year: String(y.order_year) })));
    expect(files.reduce((n, f) => n + f.rows, 0)).toBe(3000);
    expect(result.manifest.tables.fact_sales!.columns.at(-1)).toMatchObject({ name: 'order_year', postgres: 'integer', pandas: 'category' });
  });

  describe('atomic publish', () => {
    async function previousExport(name: string): Promise<{ out: string; before: Record<string, string> }> {
      const out = path.join(root, name, 'exports');
      await exportGold(options(out, { runId: 1 }));
      await writeFile(path.join(out, '.gitkeep'), '');
      return { out, before: await snapshot(out) };
    }

    it('leaves the previous export exactly as it was when the query fails mid-stream', async () => {
      const { out, before } = await previousExport('failing-query');
      await expect(exportGold(options(out, { tables: ['fact_sales', 'customer_features', 'exploding'], rowGroupSize: 100 })))
        .rejects.toMatchObject({ code: 'DB_ERROR', message: expect.stringContaining('division by zero') });
      expect(await snapshot(out)).toEqual(before);
      expect(await leftovers(out)).toEqual([]);
    });

    it('leaves the previous export as it was when interrupted mid-table', async () => {
      const { out, before } = await previousExport('interrupted');
      const controller = new AbortController();
      const reason = new InterruptedError('SIGTERM');
      // big is written as three partition files: its progress (onRows) shows a table begun but not
      // finished, and the signal lands while the COPY of a later partition is running on the server.
      const BIG_ROWS = 300_000;
      await client.query(`create table ${schema}.big as select g, g % 3 as order_year, repeat('y', 200) as pad from generate_series(1, ${BIG_ROWS}) g`);
      const progress: number[] = [];
      const finished: string[] = [];
      let running: Promise<ActiveQuery | null> | undefined;
      const p = exportGold(options(out, {
        tables: ['fact_sales', 'big'],
        folderTable: 'big',
        partitionBy: 'order_year',
        signal: controller.signal,
        onTable: (r) => finished.push(r.table),
        onRows: (table, rows) => {
          if (table !== 'big') return;
          progress.push(rows);
          // after the first partition: abort once the next partition's COPY is seen running
          running ??= waitForActiveQuery(client, { like: `copy (select % from %${schema}%big% where %` }, p).then((q) => {
            controller.abort(reason);
            return q;
          });
        },
      }));
      const error = await p.then(() => null, (e: unknown) => e);
      expect(await running, 'the COPY of a partition of big was seen running').not.toBeNull();
      expect(error).toBe(reason);
      expect(error).toMatchObject({ code: 'INTERRUPTED', category: 'interrupted' });
      // mid-table: fact_sales done, big begun (one partition) and not finished
      expect(finished).toEqual(['fact_sales']);
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.at(-1)!).toBeGreaterThan(0);
      expect(progress.at(-1)!).toBeLessThan(BIG_ROWS);
      expect(await snapshot(out)).toEqual(before);
      expect(await leftovers(out)).toEqual([]);
    });

    it('publishes nothing when the commit fails, and keeps .gitkeep and the user\'s files across a switch', async () => {
      const { out, before } = await previousExport('before-publish');
      await writeFile(path.join(out, 'notes.txt'), 'mine');
      await expect(exportGold(options(out, { commit: () => { throw new Error('disk full (simulated)'); } }))).rejects.toThrow(/disk full/);
      expect(await snapshot(out)).toEqual({ ...before, 'notes.txt': await sha256(path.join(out, 'notes.txt')) });
      await exportGold(options(out, { runId: 2 }));
      const manifest = JSON.parse(await readFile(path.join(out, '_manifest.json'), 'utf8')) as Manifest;
      expect(manifest.run_id).toBe(2);
      expect(await readdir(out)).toContain('.gitkeep');
      expect(await readFile(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
      expect(await leftovers(out)).toEqual([]);
    });

    it('finishes the switch of a version the ledger committed when the writer died before switching', async () => {
      const { out, before } = await previousExport('crash-window');
      const current = path.join(out, '.medallion', 'current');
      const first = await readlink(current);
      const second = await exportGold(options(out, { runId: 2 }));
      const after = await snapshot(out);
      expect(after).not.toEqual(before);
      // Simulate: run 2 committed, then died before its switch: current still names run 1.
      await unlink(current);
      await symlink(first, current);
      expect(await snapshot(out)).toEqual(before);
      expect(await finishCommittedExport(second.versionPath)).toBe(true);
      expect(await snapshot(out)).toEqual(after);
      // Idempotent, and an older committed version never replaces a newer current one.
      expect(await finishCommittedExport(second.versionPath)).toBe(false);
      expect(await finishCommittedExport(path.join(out, '.medallion', 'versions', first.split('/').pop()!))).toBe(false);
      expect(await snapshot(out)).toEqual(after);
    });

    it('refuses a folder that is not its own before writing anything, and never removes the user\'s files', async () => {
      const out = path.join(root, 'users-folder');
      await rename(await mkdtemp(path.join(root, 'tmp-')), out);
      await writeFile(path.join(out, 'thesis.tex'), 'mine');
      await expect(exportGold(options(out))).rejects.toMatchObject({ code: 'CONFIG_INVALID', category: 'usage', message: expect.stringContaining('thesis.tex') });
      expect(await readdir(out)).toEqual(['thesis.tex']);
      const file = path.join(root, 'a-file');
      await writeFile(file, 'x');
      await expect(exportGold(options(file))).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('not a folder') });
      expect(await readFile(file, 'utf8')).toBe('x');
    });
  });
});
