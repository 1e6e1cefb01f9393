/**
 * Month and bucket files from several COPYs, each holding whole parts, DuckDB encoding the parts of
 * one COPY beside the next: the same files as from one COPY (rows in table order, byte for byte),
 * each COPY a scan of the table, and a value DuckDB refuses in an early COPY's part stops the COPY
 * that may still run beside it, names the column and leaves the connection usable. A first export
 * fingerprints its parts on the second connection once the COPYs are over, without parallel
 * workers; one with previous files fingerprints first. A previous file is linked only when its
 * footer holds its month's rows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, connect } from '../../src/db/client.ts';
import { CopyOutStream } from '../../src/export/copy-out.ts';
import { exportTable, type ExportTableOptions } from '../../src/export/export-table.ts';
import { readParquet, testConnection, withSchema } from './helpers.ts';

let client: Client;
let schema: string;
let drop: () => Promise<void>;
let root: string;

beforeAll(async () => {
  ({ client, schema, drop } = await withSchema('export_copies'));
  root = await mkdtemp(path.join(tmpdir(), 'export-copies-'));
  // Months and buckets spread over the table (random order), NULLs of both, text CSV must quote.
  await client.query(`
    create table ${schema}.fact_sales as
      select 'SO' || g as order_number, case when g % 301 = 0 then null else (g % 97)::bigint - 40 end as customer_id,
             case when g % 500 = 0 then null else date '2012-11-20' + (g * 7919 % 420) end as order_date,
             round((g * 1.37)::numeric, 2) as sales_amount,
             case when g % 41 = 0 then E'a "quoted",\\nline' else 'plain ' || g end as note,
             date '2020-01-01' + g % 30 as due_date
        from generate_series(1, 8000) g
       order by md5(g::text);
    analyze ${schema}.fact_sales;
  `);
});

afterAll(async () => {
  await drop?.();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Exports the table in its own transaction; the files (by part: sha256, rows) and the seq scans of the table it made. */
async function exported(name: string, extra: Partial<ExportTableOptions>) {
  // The session's statistics not yet sent are counted in the transaction's: sent now, the count is the export's.
  await client.query('select pg_stat_force_next_flush()');
  await client.query('begin isolation level repeatable read read only');
  try {
    const result = await exportTable({ client, schema, table: 'fact_sales', outDir: path.join(root, name), rowGroupSize: 1000, compression: 'zstd', inTransaction: true, ...extra });
    const scans = Number((await client.query<{ n: string }>(`select pg_stat_get_xact_numscans('${schema}.fact_sales'::regclass) as n`)).rows[0]!.n);
    return { result, scans, files: Object.fromEntries(result.files.map((f) => [f.month ?? f.bucket!, { sha256: f.sha256, rows: f.rows }])) };
  } finally {
    await client.query('rollback');
  }
}

describe('month and bucket files from several COPYs', () => {
  it('writes the same month files, byte for byte, from three COPYs as from one, each COPY a scan of the table', async () => {
    const one = await exported('months-1', { monthsOf: 'order_date', copies: 1 });
    const three = await exported('months-3', { monthsOf: 'order_date', copies: 3 });
    expect(Object.keys(one.files).length).toBeGreaterThan(12);
    expect(Object.keys(one.files)).toContain('none');
    expect(three.files).toEqual(one.files);
    expect(three.result.rows).toBe(8000);
    // the fingerprint's scan and the COPYs'
    expect(one.scans).toBe(2);
    expect(three.scans).toBe(4);
    // a month's rows in the table's order
    const f = three.result.files.find((x) => x.month === '2013-05')!;
    const pg = (await client.query<{ order_number: string }>(`select order_number from ${schema}.fact_sales where to_char(order_date, 'YYYY-MM') = '2013-05'`)).rows;
    expect((await readParquet(f.path)).map((r) => r.order_number)).toEqual(pg.map((r) => r.order_number));
  });

  it('writes the same bucket files, byte for byte, from three COPYs as from one', async () => {
    const one = await exported('buckets-1', { bucketsOf: { column: 'customer_id', buckets: 8 }, copies: 1 });
    const three = await exported('buckets-3', { bucketsOf: { column: 'customer_id', buckets: 8 }, copies: 3 });
    expect(Object.keys(one.files).sort()).toEqual(['000', '001', '002', '003', '004', '005', '006', '007', 'none']);
    expect(three.files).toEqual(one.files);
    expect(one.scans).toBe(2);
    expect(three.scans).toBe(4);
  });

  it('writes changed months holding under a third of the rows in one COPY, whatever `copies` says', async () => {
    const first = await exported('few-1', { monthsOf: 'order_date', copies: 3 });
    const previousFiles = first.result.files.map((f) => ({ ...f, fingerprint: f.fingerprint!, settings: f.settings!, version: 'v1', month: f.month! }));
    // one line in each of three months, about a fifth of the rows
    const lines = `order_number in (select min(order_number) from ${schema}.fact_sales where to_char(order_date, 'YYYY-MM') in ('2013-05', '2013-06', '2013-07') group by to_char(order_date, 'YYYY-MM'))`;
    await client.query(`update ${schema}.fact_sales set sales_amount = sales_amount + 1 where ${lines}`);
    try {
      const again = await exported('few-2', { monthsOf: 'order_date', copies: 3, previousFiles });
      expect(again.result.written).toBe(3);
      expect(again.result.reused).toBe(first.result.files.length - 3);
      expect(['2013-05', '2013-06', '2013-07'].reduce((n, m) => n + again.files[m]!.rows, 0) * 3).toBeLessThan(again.result.rows);
      // the fingerprint's scan and one COPY's
      expect(again.scans).toBe(2);
      expect(again.files['2013-06']!.sha256).not.toBe(first.files['2013-06']!.sha256);
    } finally {
      await client.query(`update ${schema}.fact_sales set sales_amount = sales_amount - 1 where ${lines}`);
    }
  });

  it("refuses to link a previous month file whose footer does not hold the month's rows", async () => {
    const first = await exported('linked-1', { monthsOf: 'order_date' });
    const none = first.result.files.find((f) => f.month === 'none')!;
    // the manifest says 2013-05, the file is the NULL month's
    const previousFiles = first.result.files.map((f) => ({ ...f, path: f.month === '2013-05' ? none.path : f.path, fingerprint: f.fingerprint!, settings: f.settings!, version: 'v1', month: f.month! }));
    await expect(exported('linked-2', { monthsOf: 'order_date', previousFiles })).rejects.toMatchObject({
      code: 'EXPORT_ROW_COUNT_MISMATCH', message: expect.stringContaining(`has ${none.rows} rows and ${none.bytes} bytes, expected ${first.files['2013-05']!.rows} rows`),
    });
  });

  it("fails naming the column when DuckDB refuses a value of an early COPY's part; the connection stays usable", async () => {
    await client.query(`update ${schema}.fact_sales set due_date = 'infinity' where order_number = (select order_number from ${schema}.fact_sales where order_date < '2013-01-01' limit 1)`);
    try {
      await expect(exported('refused', { monthsOf: 'order_date', copies: 3 })).rejects.toMatchObject({ code: 'EXPORT_FAILED', message: expect.stringContaining('due_date') });
      expect((await client.query('select 1 as one')).rows[0]).toEqual({ one: 1 });
    } finally {
      await client.query(`update ${schema}.fact_sales set due_date = date '2020-01-01' where due_date = 'infinity'`);
    }
  });

  it('fingerprints the parts of a first export after its last COPY, without parallel workers, on the second connection; the same fingerprints', async () => {
    const second = await connect(testConnection(), 'test-export-copies-fingerprint');
    // What each connection was asked, in order: a COPY when it starts and when Postgres has sent its last row.
    const log: string[] = [];
    const record = (c: Client, name: string) => {
      const query = c.query.bind(c) as (...args: unknown[]) => unknown;
      (c as { query: unknown }).query = (...args: unknown[]) => {
        const q = args[0];
        if (q instanceof CopyOutStream) {
          log.push(`${name}: copy`);
          q.completed.then(() => log.push(`${name}: copy sent`), () => {});
        } else if (typeof q === 'string') log.push(`${name}: ${/hash_record_extended/.test(q) ? 'fingerprint' : q}`);
        return query(...args);
      };
      return () => { (c as { query: unknown }).query = query; };
    };
    const restore = [record(client, 'client'), record(second, 'second')];
    await client.query('begin isolation level repeatable read read only');
    try {
      const snapshot = (await client.query<{ s: string }>('select pg_export_snapshot() as s')).rows[0]!.s;
      await second.query(`begin isolation level repeatable read read only; set transaction snapshot '${snapshot}'`);
      const first = await exportTable({ client, schema, table: 'fact_sales', outDir: path.join(root, 'deferred'), rowGroupSize: 1000, compression: 'zstd', inTransaction: true, monthsOf: 'order_date', copies: 3, fingerprintClient: second, previousFiles: [] });
      await second.query('rollback');
      const fingerprintAt = log.indexOf('second: fingerprint');
      expect(fingerprintAt).toBeGreaterThan(0);
      expect(log.filter((l) => l === 'client: copy sent')).toHaveLength(3);
      expect(log.lastIndexOf('client: copy sent')).toBeLessThan(fingerprintAt);
      expect(log.slice(0, fingerprintAt)).toContain('second: set local max_parallel_workers_per_gather = 0');
      // with previous files (here those of the first export), the fingerprint comes before any COPY
      log.length = 0;
      await second.query(`begin isolation level repeatable read read only; set transaction snapshot '${snapshot}'`);
      const previousFiles = first.files.map((f) => ({ ...f, fingerprint: f.fingerprint!, settings: f.settings!, sha256: f.sha256, version: 'v1', month: f.month! }));
      const again = await exportTable({ client, schema, table: 'fact_sales', outDir: path.join(root, 'again'), rowGroupSize: 1000, compression: 'zstd', inTransaction: true, monthsOf: 'order_date', copies: 3, fingerprintClient: second, previousFiles });
      await second.query('rollback');
      expect(log).toContain('second: fingerprint');
      expect(log).not.toContain('client: copy');
      expect(again.reused).toBe(first.files.length);
      // the same fingerprints as a scan before the COPYs on the export's own connection
      const alone = await exportTable({ client, schema, table: 'fact_sales', outDir: path.join(root, 'alone'), rowGroupSize: 1000, compression: 'zstd', inTransaction: true, monthsOf: 'order_date', copies: 3 });
      const byMonth = (r: typeof first) => Object.fromEntries(r.files.map((f) => [f.month!, [f.rows, f.fingerprint, f.sha256]]));
      expect(byMonth(first)).toEqual(byMonth(alone));
    } finally {
      await client.query('rollback');
      for (const r of restore) r();
      await second.end();
    }
  });
});
