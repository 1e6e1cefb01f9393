/**
 * fact_sales as one file per order month: each file holds Postgres' rows of its month in table
 * order, and an export of unchanged rows hard-links the previous version's file instead of
 * writing it again.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { exportGold, type ExportGoldOptions, type ExportGoldResult, type Manifest } from '../../src/export/export-gold.ts';
import { goldOptions, readParquet, sha256, withSchema } from './helpers.ts';

let client: Client;
let schema: string;
let drop: () => Promise<void>;
let root: string;

const MONTH = `coalesce(to_char(order_date, 'YYYY-MM'), 'none')`;

beforeAll(async () => {
  ({ client, schema, drop } = await withSchema('export_months'));
  root = await mkdtemp(path.join(tmpdir(), 'export-months-'));
  // Rows in random order (the table's order is not the months'), a few without an order date, and
  // text that CSV must quote.
  await client.query(`
    create table ${schema}.fact_sales as
      select 'SO' || g as order_number, (g % 97)::bigint as customer_id,
             case when g % 500 = 0 then null else date '2012-11-20' + (g * 7919 % 420) end as order_date,
             round((g * 1.37)::numeric, 2) as sales_amount, g % 3 = 0 as is_weekend,
             case when g % 41 = 0 then E'a "quoted",\\nline' else 'plain ' || g end as note
        from generate_series(1, 6000) g
       order by md5(g::text);
    alter table ${schema}.fact_sales alter column order_number set not null;
  `);
});

afterAll(async () => {
  await drop?.();
  if (root) await rm(root, { recursive: true, force: true });
});

function options(exportsDir: string, runId: number, extra: Partial<ExportGoldOptions> = {}): ExportGoldOptions {
  return goldOptions(schema, ['fact_sales'], exportsDir, runId, extra);
}

async function months(): Promise<string[]> {
  return (await client.query<{ m: string }>(`select distinct ${MONTH} as m from ${schema}.fact_sales order by 1`)).rows.map((r) => r.m);
}

/** Each month file's inode, by month. */
async function inodes(result: ExportGoldResult): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const f of result.manifest.tables.fact_sales!.files) out[f.month!] = (await stat(path.join(result.versionPath, f.path))).ino;
  return out;
}

/** The manifest without what differs between two exports of the same rows. */
function comparable(m: Manifest) {
  const { run_id: _run, exported_at: _at, ...rest } = m;
  return { ...rest, tables: Object.fromEntries(Object.entries(m.tables).map(([t, v]) => [t, { ...v, files: v.files.map(({ reused_from: _from, ...f }) => f) }])) };
}

describe('fact_sales by order month', () => {
  it("writes one plain file per month (part-none.parquet for NULL dates), each with Postgres' rows of that month in table order", async () => {
    const out = path.join(root, 'layout');
    const result = await exportGold(options(out, 1));
    const all = await months();
    expect(all.length).toBeGreaterThan(12);
    expect(all.at(-1)).toBe('none');
    const expectedNames = all.map((m) => `part-${m}.parquet`);
    expect((await readdir(path.join(out, 'fact_sales'))).sort()).toEqual([...expectedNames].sort());
    const fact = result.manifest.tables.fact_sales!;
    expect(fact.files.map((f) => f.path)).toEqual(expectedNames.map((n) => `fact_sales/${n}`));
    expect(result.files).toEqual({ written: all.length, reused: 0 });
    for (const f of fact.files) {
      const file = path.join(out, f.path);
      // the table's order within the month: a scan of the table with the month's filter
      const pg = (await client.query<{ order_number: string; sales_amount: number; note: string; order_date: string | null }>(
        `select order_number, sales_amount::float8 as sales_amount, note, order_date::text from ${schema}.fact_sales where ${MONTH} = $1`, [f.month])).rows;
      const rows = await readParquet(file);
      expect(rows.map((r) => r.order_number), f.path).toEqual(pg.map((r) => r.order_number));
      expect(rows.map((r) => r.sales_amount)).toEqual(pg.map((r) => r.sales_amount));
      expect(rows.map((r) => r.note)).toEqual(pg.map((r) => r.note));
      expect(Object.keys(rows[0]!)).toEqual(['order_number', 'customer_id', 'order_date', 'sales_amount', 'is_weekend', 'note']);
      if (f.month === 'none') expect(rows.every((r) => r.order_date === null)).toBe(true);
      expect(f.rows).toBe(pg.length);
      expect(f.sha256).toBe(await sha256(file));
      // never written again: a later version may share the file
      expect((await stat(file)).mode & 0o222).toBe(0);
    }
    expect(fact.rows).toBe(6000);
  });

  it('links every month file from the previous version when gold is unchanged; the manifest is otherwise the same', async () => {
    const out = path.join(root, 'unchanged');
    const first = await exportGold(options(out, 1));
    const second = await exportGold(options(out, 2));
    const n = (await months()).length;
    expect(second.files).toEqual({ written: 0, reused: n });
    expect(await inodes(second)).toEqual(await inodes(first));
    for (const f of second.manifest.tables.fact_sales!.files) {
      expect(f.reused_from).toBe(path.basename(first.versionPath));
      expect((await stat(path.join(second.versionPath, f.path))).nlink).toBeGreaterThan(1);
    }
    expect(comparable(second.manifest)).toEqual(comparable(first.manifest));
    // both versions complete and intact
    for (const v of [first, second]) {
      const manifest = JSON.parse(await readFile(path.join(v.versionPath, '_manifest.json'), 'utf8')) as Manifest;
      for (const f of manifest.tables.fact_sales!.files) expect(await sha256(path.join(v.versionPath, f.path))).toBe(f.sha256);
    }
    // a third export links from the second, and names the version that wrote the file
    const third = await exportGold(options(out, 3));
    expect(third.files).toEqual({ written: 0, reused: n });
    expect(new Set(third.manifest.tables.fact_sales!.files.map((f) => f.reused_from))).toEqual(new Set([path.basename(first.versionPath)]));
  });

  it("rewrites exactly the month of a line whose amount changed, and links the others", async () => {
    const out = path.join(root, 'changed');
    const first = await exportGold(options(out, 1));
    const { rows: [line] } = await client.query<{ order_number: string; m: string }>(
      `update ${schema}.fact_sales set sales_amount = sales_amount + 0.01 where order_number = 'SO1234' returning order_number, ${MONTH} as m`);
    try {
      const second = await exportGold(options(out, 2));
      const n = (await months()).length;
      expect(second.files).toEqual({ written: 1, reused: n - 1 });
      const before = await inodes(first);
      const after = await inodes(second);
      for (const m of Object.keys(before)) {
        if (m === line!.m) expect(after[m], m).not.toBe(before[m]);
        else expect(after[m], m).toBe(before[m]);
      }
      const changed = second.manifest.tables.fact_sales!.files.find((f) => f.month === line!.m)!;
      const old = first.manifest.tables.fact_sales!.files.find((f) => f.month === line!.m)!;
      expect(changed.reused_from).toBeUndefined();
      expect(changed.fingerprint).not.toBe(old.fingerprint);
      expect(changed.rows).toBe(old.rows);
      const rows = await readParquet(path.join(second.versionPath, changed.path));
      const { rows: [pg] } = await client.query(`select sales_amount::float8 as a from ${schema}.fact_sales where order_number = 'SO1234'`);
      expect(rows.find((r) => r.order_number === 'SO1234')!.sales_amount).toBe(pg.a);
      // the previous version's file of that month is as it was
      expect(await sha256(path.join(first.versionPath, old.path))).toBe(old.sha256);
    } finally {
      await client.query(`update ${schema}.fact_sales set sales_amount = sales_amount - 0.01 where order_number = 'SO1234'`);
    }
  });

  it('rewrites every month when the files would differ (another compression), and months that appear or vanish', async () => {
    const out = path.join(root, 'settings');
    await exportGold(options(out, 1));
    const n = (await months()).length;
    const snappy = await exportGold(options(out, 2, { compression: 'snappy' }));
    expect(snappy.files).toEqual({ written: n, reused: 0 });
    await client.query(`insert into ${schema}.fact_sales values ('SO-new', 1, date '2015-06-01', 10.5, false, 'new month')`);
    try {
      const grown = await exportGold(options(out, 3, { compression: 'snappy' }));
      expect(grown.files).toEqual({ written: 1, reused: n });
      expect(grown.manifest.tables.fact_sales!.files.at(-2)!.month).toBe('2015-06');
    } finally {
      await client.query(`delete from ${schema}.fact_sales where order_number = 'SO-new'`);
    }
    const shrunk = await exportGold(options(out, 4, { compression: 'snappy' }));
    expect(shrunk.files).toEqual({ written: 0, reused: n });
    expect(shrunk.manifest.tables.fact_sales!.files.map((f) => f.month)).toEqual(await months());
  });
});
