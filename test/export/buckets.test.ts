/**
 * customer_training_set as one file per bucket of customer_id (its value modulo a power of two):
 * each file holds Postgres' rows of its bucket in table order, the folder holds the table, and an
 * export after a change to a few customers writes their buckets only and hard-links the others.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { exportGold, type ExportGoldOptions, type ExportGoldResult } from '../../src/export/export-gold.ts';
import { bucketParts } from '../../src/export/part-router.ts';
import { goldOptions, readParquet, sha256, withSchema } from './helpers.ts';

let client: Client;
let schema: string;
let drop: () => Promise<void>;
let root: string;

const TABLE = 'customer_training_set';
const BUCKETS = 8;
const BUCKET = `coalesce(lpad((customer_id & ${BUCKETS - 1})::text, 3, '0'), 'none')`;

beforeAll(async () => {
  ({ client, schema, drop } = await withSchema('export_buckets'));
  root = await mkdtemp(path.join(tmpdir(), 'export-buckets-'));
  // Rows in random order, every customer at several cutoffs; negative ids, the extremes of bigint
  // and a NULL id, whose buckets the router must read as SQL's `&` does; text that CSV must quote.
  await client.query(`
    create table ${schema}.${TABLE} as
      select * from (
        select c::bigint as customer_id, date '2013-01-01' + k * 30 as cutoff_date, round((c * 1.37 + k)::numeric, 2)::float8 as spend,
               case when c % 13 = 0 then E'a "quoted",\\nnote' else 'plain ' || c end as note
          from generate_series(-20, 300) c, generate_series(0, 5) k
        union all select v, date '2013-01-01', 1.5, 'extreme' from unnest(array[-9223372036854775808, 9223372036854775807, null]::bigint[]) v
      ) as r order by md5(coalesce(customer_id::text, '') || cutoff_date::text);
    alter table ${schema}.${TABLE} alter column cutoff_date set not null;
  `);
});

afterAll(async () => {
  await drop?.();
  if (root) await rm(root, { recursive: true, force: true });
});

function options(exportsDir: string, runId: number, extra: Partial<ExportGoldOptions> = {}): ExportGoldOptions {
  return goldOptions(schema, [TABLE], exportsDir, runId, { bucketsOf: { [TABLE]: { column: 'customer_id', buckets: BUCKETS } }, ...extra });
}

async function buckets(): Promise<string[]> {
  return (await client.query<{ b: string }>(`select distinct ${BUCKET} as b from ${schema}.${TABLE} order by 1`)).rows.map((r) => r.b);
}

/** Each bucket file's inode, by bucket. */
async function inodes(result: ExportGoldResult): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const f of result.manifest.tables[TABLE]!.files) out[f.bucket!] = (await stat(path.join(result.versionPath, f.path))).ino;
  return out;
}

/** Every row of the export's files, as text, sorted: the folder as a reader sees it. */
async function folderRows(result: ExportGoldResult): Promise<string[]> {
  const rows: string[] = [];
  for (const f of result.manifest.tables[TABLE]!.files) {
    for (const r of await readParquet(path.join(result.versionPath, f.path))) rows.push(`${r.customer_id}|${Number(r.cutoff_date)}|${r.spend}|${r.note}`);
  }
  return rows.sort();
}

async function tableRows(): Promise<string[]> {
  const { rows } = await client.query<{ r: string }>(
    `select concat_ws('|', coalesce(customer_id::text, 'null'), (extract(epoch from cutoff_date) * 1000)::bigint, spend, note) as r from ${schema}.${TABLE}`);
  return rows.map((r) => r.r).sort();
}

describe('customer_training_set by bucket of customer_id', () => {
  it('reads the bucket of a decimal integer as SQL\'s value & (buckets - 1)', () => {
    const key = (text: string) => bucketParts(BUCKETS).key(Buffer.from(text), 0);
    expect(key('13,x')).toBe(5);
    expect(key('-1,x')).toBe(7);
    expect(key('-8\n')).toBe(0);
    expect(key('-9223372036854775808,')).toBe(0);
    expect(key('9223372036854775807,')).toBe(7);
    expect(key(',x')).toBe(-1);
    expect(key('1a,')).toBe(-1);
    expect(() => bucketParts(12)).toThrow(/power of two/);
  });

  it("writes one file per bucket (part-bucket-none.parquet for NULL ids), each with Postgres' rows of that bucket in table order; the folder holds the table", async () => {
    const out = path.join(root, 'layout');
    const result = await exportGold(options(out, 1));
    const all = await buckets();
    expect(all).toEqual(['000', '001', '002', '003', '004', '005', '006', '007', 'none']);
    const names = all.map((b) => `part-bucket-${b}.parquet`);
    expect((await readdir(path.join(out, TABLE))).sort()).toEqual(names);
    const table = result.manifest.tables[TABLE]!;
    expect(table.files.map((f) => f.path)).toEqual(names.map((n) => `${TABLE}/${n}`));
    expect(table.bucket_by).toEqual({ column: 'customer_id', buckets: BUCKETS });
    expect(result.files).toEqual({ written: all.length, reused: 0 });
    for (const f of table.files) {
      const file = path.join(out, f.path);
      const pg = (await client.query<{ customer_id: string | null; note: string }>(
        `select customer_id::text, note from ${schema}.${TABLE} where ${BUCKET} = $1`, [f.bucket])).rows;
      const rows = await readParquet(file);
      expect(rows.map((r) => (r.customer_id === null ? null : String(r.customer_id))), f.path).toEqual(pg.map((r) => r.customer_id));
      expect(rows.map((r) => r.note)).toEqual(pg.map((r) => r.note));
      expect(Object.keys(rows[0]!)).toEqual(['customer_id', 'cutoff_date', 'spend', 'note']);
      expect(f.rows).toBe(pg.length);
      expect(f.sha256).toBe(await sha256(file));
      expect((await stat(file)).mode & 0o222).toBe(0);
    }
    expect(table.rows).toBe(321 * 6 + 3);
    expect(await folderRows(result)).toEqual(await tableRows());
  });

  it('links every bucket file when the table is unchanged', async () => {
    const out = path.join(root, 'unchanged');
    const first = await exportGold(options(out, 1));
    const second = await exportGold(options(out, 2));
    expect(second.files).toEqual({ written: 0, reused: (await buckets()).length });
    expect(await inodes(second)).toEqual(await inodes(first));
  });

  it("rewrites the buckets of changed customers only, the changed file holds the new rows, and the others are linked", async () => {
    const out = path.join(root, 'changed');
    const first = await exportGold(options(out, 1));
    // customers 17 and 33 (bucket 001), 42 (bucket 002): a changed value, a removed row, an added cutoff
    await client.query(`
      update ${schema}.${TABLE} set spend = spend + 100 where customer_id in (17, 33);
      delete from ${schema}.${TABLE} where customer_id = 42 and cutoff_date = date '2013-01-01';
      insert into ${schema}.${TABLE} values (42, date '2014-01-01', 7.25, 'new cutoff');
    `);
    try {
      const second = await exportGold(options(out, 2));
      expect(second.files).toEqual({ written: 2, reused: (await buckets()).length - 2 });
      const before = await inodes(first);
      const after = await inodes(second);
      for (const b of Object.keys(before)) {
        if (b === '001' || b === '002') expect(after[b], b).not.toBe(before[b]);
        else expect(after[b], b).toBe(before[b]);
      }
      const files = second.manifest.tables[TABLE]!.files;
      const changed = await readParquet(path.join(second.versionPath, files.find((f) => f.bucket === '001')!.path));
      const pg = (await client.query<{ spend: number }>(`select spend from ${schema}.${TABLE} where customer_id = 17 order by cutoff_date`)).rows;
      expect(changed.filter((r) => r.customer_id === 17n).map((r) => r.spend).sort((a, b) => Number(a) - Number(b))).toEqual(pg.map((r) => r.spend));
      const b2 = await readParquet(path.join(second.versionPath, files.find((f) => f.bucket === '002')!.path));
      expect(b2.some((r) => r.customer_id === 42n && r.note === 'new cutoff')).toBe(true);
      expect(await folderRows(second)).toEqual(await tableRows());
    } finally {
      await client.query(`
        update ${schema}.${TABLE} set spend = spend - 100 where customer_id in (17, 33);
        delete from ${schema}.${TABLE} where customer_id = 42 and cutoff_date = date '2014-01-01';
        insert into ${schema}.${TABLE} values (42, date '2013-01-01', round((42 * 1.37)::numeric, 2)::float8, 'plain 42');
      `);
    }
  });

  it('writes every bucket at once when every bucket gained rows (a new cutoff), and the files hold the table', async () => {
    const out = path.join(root, 'cutoff');
    await exportGold(options(out, 1));
    await client.query(`insert into ${schema}.${TABLE} select c, date '2015-01-01', 1, 'cutoff' from generate_series(-20, 300) c`);
    try {
      const second = await exportGold(options(out, 2));
      expect(second.files).toEqual({ written: 8, reused: 1 });
      expect(await folderRows(second)).toEqual(await tableRows());
    } finally {
      await client.query(`delete from ${schema}.${TABLE} where cutoff_date = date '2015-01-01'`);
    }
  });

  it('refuses a bucket count that is not a power of two before writing anything', async () => {
    const out = path.join(root, 'refused');
    await expect(exportGold(options(out, 1, { bucketsOf: { [TABLE]: { column: 'customer_id', buckets: 12 } } }))).rejects.toThrow(/power of two/);
  });
});
