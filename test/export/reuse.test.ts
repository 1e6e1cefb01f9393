/**
 * The single-file gold exports are reused as the months are: a table whose rows have the
 * fingerprint the published manifest records for its file is hard-linked from that version, and a
 * table whose rows changed (same count or not) is written again.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { exportGold, type ExportGoldOptions, type ExportGoldResult } from '../../src/export/export-gold.ts';
import { goldOptions, readParquet, sha256, withSchema } from './helpers.ts';

let client: Client;
let schema: string;
let drop: () => Promise<void>;
let root: string;

const SINGLE = ['customer_features', 'sales_daily', 'customer_training_set'] as const;

beforeAll(async () => {
  ({ client, schema, drop } = await withSchema('export_reuse'));
  root = await mkdtemp(path.join(tmpdir(), 'export-reuse-'));
  await client.query(`
    create table ${schema}.fact_sales as
      select 'SO' || g as order_number, date '2013-01-01' + (g % 90) as order_date, (g * 1.5)::numeric(10, 2) as sales_amount
        from generate_series(1, 900) g;
    create table ${schema}.customer_features as
      select g::bigint as customer_id, 'customer ' || g as name, (g % 7)::float8 / 3 as score,
             case when g % 11 = 0 then null else timestamptz '2013-06-01 12:00+02' + g * interval '1 hour' end as last_seen
        from generate_series(1, 3000) g;
    create table ${schema}.sales_daily as
      select date '2013-01-01' + g as day, (g * 10.25)::numeric(12, 2) as sales_amount, g % 5 as orders
        from generate_series(0, 89) g;
    -- empty: its fingerprint is a count of 0 and a sum of 0
    create table ${schema}.customer_training_set (customer_id bigint, cutoff date, churned boolean);
  `);
});

afterAll(async () => {
  await drop?.();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Every table but fact_sales as one file (no buckets: buckets.test.ts covers those). */
function options(exportsDir: string, runId: number, extra: Partial<ExportGoldOptions> = {}): ExportGoldOptions {
  return goldOptions(schema, ['fact_sales', ...SINGLE], exportsDir, runId, { bucketsOf: {}, ...extra });
}

function single(result: ExportGoldResult, table: string) {
  const files = result.manifest.tables[table]!.files;
  expect(files, table).toHaveLength(1);
  return files[0]!;
}

async function inode(result: ExportGoldResult, table: string): Promise<number> {
  return (await stat(path.join(result.versionPath, single(result, table).path))).ino;
}

const months = async () => Number((await client.query(`select count(distinct to_char(order_date, 'YYYY-MM')) as n from ${schema}.fact_sales`)).rows[0].n);

describe('single-file gold exports', () => {
  it('records a fingerprint for each file, and links every file of unchanged tables from the version before', async () => {
    const out = path.join(root, 'unchanged');
    const first = await exportGold(options(out, 1));
    const n = await months();
    expect(first.files).toEqual({ written: n + SINGLE.length, reused: 0 });
    for (const table of SINGLE) {
      const f = single(first, table);
      expect(f.path).toBe(`${table}.parquet`);
      expect(f.fingerprint, table).toMatch(/^-?\d+$/);
      expect(f.settings, table).toMatch(/^[0-9a-f]{32}$/);
      expect(f.month).toBeUndefined();
      // never written again: a later version may share the file
      expect((await stat(path.join(first.versionPath, f.path))).mode & 0o222, table).toBe(0);
    }
    expect(single(first, 'customer_training_set')).toMatchObject({ rows: 0, fingerprint: '0' });

    const second = await exportGold(options(out, 2));
    expect(second.files).toEqual({ written: 0, reused: n + SINGLE.length });
    for (const table of SINGLE) {
      const [a, b] = [single(first, table), single(second, table)];
      expect(await inode(second, table), table).toBe(await inode(first, table));
      expect(b.reused_from).toBe(path.basename(first.versionPath));
      expect({ ...b, reused_from: undefined }).toEqual({ ...a, reused_from: undefined });
      expect(await sha256(path.join(second.versionPath, b.path))).toBe(a.sha256);
    }
  });

  it('links a table rebuilt with the same rows in another order, and writes one whose value or row count changed', async () => {
    const out = path.join(root, 'changed');
    const first = await exportGold(options(out, 1));
    const n = await months();
    // The model plan's kept table and a rebuild with the same rows look alike to the export.
    await client.query(`
      create table ${schema}.customer_features_again as select * from ${schema}.customer_features order by md5(customer_id::text);
      drop table ${schema}.customer_features;
      alter table ${schema}.customer_features_again rename to customer_features;
      update ${schema}.sales_daily set sales_amount = sales_amount + 0.01 where day = date '2013-02-01';
      insert into ${schema}.customer_training_set values (1, date '2013-06-30', false);
    `);
    try {
      const second = await exportGold(options(out, 2));
      expect(second.files).toEqual({ written: 2, reused: n + 1 });
      expect(await inode(second, 'customer_features')).toBe(await inode(first, 'customer_features'));
      expect(single(second, 'customer_features').reused_from).toBe(path.basename(first.versionPath));
      for (const table of ['sales_daily', 'customer_training_set']) {
        const [a, b] = [single(first, table), single(second, table)];
        expect(await inode(second, table), table).not.toBe(await inode(first, table));
        expect(b.reused_from, table).toBeUndefined();
        expect(b.fingerprint, table).not.toBe(a.fingerprint);
        expect(b.sha256).toBe(await sha256(path.join(second.versionPath, b.path)));
        // the previous version's file is as it was
        expect(await sha256(path.join(first.versionPath, a.path))).toBe(a.sha256);
      }
      expect(single(second, 'sales_daily').rows).toBe(single(first, 'sales_daily').rows);
      const daily = await readParquet(path.join(second.versionPath, 'sales_daily.parquet'));
      const { rows: [pg] } = await client.query(`select sales_amount::float8 as a from ${schema}.sales_daily where day = date '2013-02-01'`);
      expect(daily.find((r) => r.sales_amount === pg.a)).toBeDefined();
      expect(await readParquet(path.join(second.versionPath, 'customer_training_set.parquet'))).toHaveLength(1);

      // a third export of the same rows links the written files from the second version
      const third = await exportGold(options(out, 3));
      expect(third.files).toEqual({ written: 0, reused: n + SINGLE.length });
      expect(single(third, 'sales_daily').reused_from).toBe(path.basename(second.versionPath));
      expect(single(third, 'customer_features').reused_from).toBe(path.basename(first.versionPath));
    } finally {
      await client.query(`
        update ${schema}.sales_daily set sales_amount = sales_amount - 0.01 where day = date '2013-02-01';
        truncate ${schema}.customer_training_set;
      `);
    }
  });

  it('writes every file again when the files would differ (another row group size)', async () => {
    const out = path.join(root, 'settings');
    await exportGold(options(out, 1));
    const n = await months();
    const other = await exportGold(options(out, 2, { rowGroupSize: 4096 }));
    expect(other.files).toEqual({ written: n + SINGLE.length, reused: 0 });
  });
});
