/**
 * The real clients: exports gold-shaped tables, then runs test/consumers/check_exports.py in the
 * project's Python venv (.venv, test/consumers/requirements.txt), which reads every export with
 * pandas (`pd.read_parquet`), polars (`pl.read_parquet` / `pl.scan_parquet`, Hive glob) and DuckDB
 * (`read_parquet(..., hive_partitioning = true)`) and compares row counts, dtypes, money sums, NULL
 * counts and rows per partition with Postgres, plain and with `--partition-by order_year`.
 * Without the venv the tests are skipped on a developer machine and FAIL in CI (CI=true).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/db/client.ts';
import { exportGold, type Manifest } from '../../src/export/export-gold.ts';
import { exportTable } from '../../src/export/export-table.ts';
import { MedallionError } from '../../src/errors.ts';
import { testConnection, withSchema } from '../export/helpers.ts';
import { PYTHON, run, venvMissing } from './python.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(ROOT, 'test/consumers/check_exports.py');
const LAYOUTS = path.join(ROOT, 'test/consumers/hive_layouts.py');

const READERS = ['pandas', 'polars', 'duckdb'] as const;
/**
 * Descriptions and roles as the models' .yml give them: ship_date is a lifetime column, and
 * customer_name and age are customer attributes fact_sales.yml leaves out (`leaveOut`, as
 * columnDocsOf marks them); customer_features has them.
 */
const COLUMN_DOCS = {
  fact_sales: {
    order_number: { description: 'Sales order number.', role: 'key' },
    customer_id: { description: 'Customer of the order.', role: 'key' },
    prior_orders: { description: 'Orders of the customer before the order date.', role: 'feature' },
    customer_name: { description: 'First and last name.', role: 'attribute', leaveOut: true },
    ship_date: { description: 'Ship date, after the order.', role: 'lifetime' },
    order_year: { description: 'Year of the order date.', role: 'feature' },
    age: { description: 'Age at the order date.', role: 'feature', leaveOut: true },
  },
  customer_features: {
    customer_id: { description: 'Customer id.', role: 'key' },
    customer_name: { description: 'First and last name, "quoted" and ünïcode.', role: 'attribute' },
    recency_days: { description: 'Days since the last order.', role: 'feature' },
  },
  // Every column has a role, as in sql/gold/customer_training_set.yml (check_exports.py requires it).
  customer_training_set: {
    customer_id: { description: 'Customer id.', role: 'key' },
    cutoff_date: { description: 'The cutoff.', role: 'key' },
    age: { description: 'Age at the cutoff.', role: 'feature' },
    age_bracket: { description: 'Bracket of age at the cutoff.', role: 'feature' },
    last_order_date: { description: 'Last order before the cutoff.', role: 'feature' },
    recency_days: { description: 'cutoff_date − last_order_date.', role: 'feature' },
    total_quantity: { description: 'Units bought before the cutoff.', role: 'feature' },
    avg_order_value: { description: 'monetary / frequency.', role: 'feature' },
    label_days: { description: 'Length of the label window.', role: 'attribute' },
    next_spend: { description: 'Spend in the label window.', role: 'label' },
    next_orders: { description: 'Orders in the label window.', role: 'label' },
    ordered_again: { description: 'Ordered in the label window.', role: 'label' },
  },
};

const missing = await venvMissing(['pandas', 'pyarrow', 'polars', 'duckdb']);
const inCi = process.env.CI === 'true';

let client: Client;
let schema: string;
let drop: () => Promise<void>;
let root: string;

function env(): NodeJS.ProcessEnv {
  const c = testConnection().client;
  return c.connectionString
    ? { ...process.env, DATABASE_URL: c.connectionString }
    : { ...process.env, PGHOST: c.host, PGPORT: String(c.port), PGUSER: c.user, PGDATABASE: c.database };
}

describe('pandas, polars and DuckDB read the exports with the documented dtypes', () => {
  it.runIf(inCi && missing)('has the Python venv in CI', () => {
    expect.fail(`CI=true but ${missing}; npm run pretest creates or updates it (.venv/bin/pip install -r test/consumers/requirements.txt)`);
  });

  describe.skipIf(missing)('with .venv', () => {
    beforeAll(async () => {
      ({ client, schema, drop } = await withSchema('export_consumers'));
      root = await mkdtemp(path.join(tmpdir(), 'export-consumers-'));
      await client.query(`
        create table ${schema}.fact_sales as
          select 'SO' || (43697 + g / 3) as order_number, 'BK-' || (g % 50) as product_key, (g % 300)::bigint as product_id,
                 (11000 + g % 900)::bigint as customer_id, date '2010-12-29' + (g % 1500) as order_date,
                 case when g % 31 = 0 then null else date '2011-01-05' + (g % 1500) end as ship_date,
                 (1 + g % 3)::integer as quantity, round((3 + (g % 3578) * 0.97)::numeric, 2) as price,
                 round(((1 + g % 3) * (3 + (g % 3578) * 0.97))::numeric, 2) as sales_amount,
                 case when g % 17 = 0 then null else round(((g % 3578) * 0.45)::numeric, 4) end as product_cost,
                 case when g % 17 = 0 then null else round(((g % 97) * 0.51)::numeric, 2) end as profit_margin,
                 case when g % 50 = 0 then 'price_from_sales' end as amount_repair,
                 'Name ' || g || case when g % 101 = 0 then E' "Zoë",\\tnée\\nO''Brien \\\\' else '' end as customer_name,
                 case when g % 23 = 0 then null else (20 + g % 60) end as age,
                 (g % 200 <> 0) as customer_known,
                 case when g % 7 = 0 then null else g % 2 = 0 end as is_weekend,
                 extract(year from date '2010-12-29' + (g % 1500))::integer as order_year,
                 case when g % 9 = 0 then null else (g % 28)::bigint end as prior_orders,
                 case when g = 1 then 9007199254740993 else g::bigint end as big_id,
                 timestamp '2024-01-01' + g * interval '1.000001 second' as loaded_at
            from generate_series(1, 20000) g;
        alter table ${schema}.fact_sales alter column order_number set not null, alter column quantity set not null,
          alter column customer_known set not null, alter column order_year set not null;
        create table ${schema}.customer_features as
          select g::bigint as customer_id, 'Name ' || g || case when g % 101 = 0 then E' "Zoë",\\tnée\\nO''Brien \\\\' else '' end as customer_name,
                 date '2013-01-01' + g % 300 as last_order_date,
                 (g % 40)::integer as recency_days, (g % 9)::bigint as frequency, round((g * 3.3)::numeric, 2) as monetary,
                 case when g % 9 = 0 then null else round((g * 1.1)::numeric, 2) end as avg_order_value,
                 (1 + g % 5)::integer as r_score, (array['Champions','Loyal','At Risk','Hibernating'])[1 + g % 4] as rfm_segment
            from generate_series(1, 900) g;
        create table ${schema}.sales_daily as
          select date '2011-01-01' + d as date, c as category, (d % 4)::bigint as orders, (d % 6)::bigint as lines,
                 round((d * 10.5)::numeric, 2) as revenue, round((d * 2.25)::numeric, 2) as profit
            from generate_series(0, 365) d, unnest(array['Bikes', 'Clothing']) c;
        create table ${schema}.customer_training_set as
          select (11000 + g % 700)::bigint as customer_id, (date '2013-01-01' + make_interval(months => g / 700))::date as cutoff_date,
                 case when g % 13 = 0 then null else (20 + g % 60) end as age,
                 case when g % 13 = 0 then 'Unknown' else '30-39' end as age_bracket,
                 date '2012-12-01' + g % 30 as last_order_date, (1 + g % 30)::integer as recency_days, (g % 11)::bigint as total_quantity,
                 case when g % 19 = 0 then null else round((g * 0.7)::numeric, 2) end as avg_order_value,
                 90 as label_days, case when g % 4 = 0 then round((g * 1.3)::numeric, 2) else 0 end as next_spend,
                 case when g % 4 = 0 then 1 + g % 3 else 0 end as next_orders, g % 4 = 0 as ordered_again
            from generate_series(0, 8399) g;
        alter table ${schema}.customer_training_set alter column customer_id set not null, alter column cutoff_date set not null,
          alter column recency_days set not null, alter column next_spend set not null, alter column ordered_again set not null;
      `);
    });

    afterAll(async () => {
      await drop?.();
      if (root) await rm(root, { recursive: true, force: true });
    });

    const exported: Record<string, string> = {};
    for (const partitionBy of [null, 'order_year'] as const) {
      it(`check_exports.py passes for ${READERS.join(', ')}${partitionBy ? ' with --partition-by order_year' : ''}`, async () => {
        const out = path.join(root, partitionBy ?? 'plain', 'exports');
        await exportGold({
          connection: testConnection(), schemas: { gold: schema }, exportsDir: out, runId: 7, asOf: '2014-01-29',
          inputFiles: [], rowGroupSize: 4096, compression: 'zstd', partitionBy, columnDocs: COLUMN_DOCS,
        });
        exported[partitionBy ?? 'plain'] = out;
        const result = await run(PYTHON, [SCRIPT, out, schema], { env: env() }).catch((err: { stdout?: string; stderr?: string }) => {
          throw new Error(`check_exports.py failed:\n${err.stdout}\n${err.stderr}`);
        });
        expect(result.stdout).toContain(`all exports match PostgreSQL (${READERS.join(', ')})`);
        expect(result.stdout).toContain('pyarrow: fact_sales: 4 column roles match the manifest, 3 left out');
        expect(result.stdout).toContain('pyarrow: customer_features: 3 column roles match the manifest, 0 left out');
        expect(result.stdout).toContain('pyarrow: customer_training_set: 12 column roles match the manifest, 0 left out, every column has one');
        // a folder of one file per bucket of customer_id (700 customers: every one of the 256 buckets)
        expect(result.stdout).toContain('pyarrow: customer_training_set: 256 bucket files of customer_id hold Postgres\' rows of their bucket');
        for (const reader of READERS) expect(result.stdout).toContain(`${reader}: customer_training_set: 8400 rows, 12 columns checked (${path.join(out, 'customer_training_set')})`);
        const manifest = JSON.parse(await readFile(path.join(out, '_manifest.json'), 'utf8')) as Manifest;
        expect(manifest.lifetime_columns).toBe(false);
        expect(manifest.tables.fact_sales!.left_out).toEqual(['customer_name', 'ship_date', 'age']);
        expect(manifest.tables.fact_sales!.columns.map((c) => c.name).filter((n) => ['customer_name', 'ship_date', 'age'].includes(n))).toEqual([]);
        expect(manifest.tables.customer_features!.columns.find((c) => c.name === 'customer_name')).toMatchObject({ description: 'First and last name, "quoted" and ünïcode.', role: 'attribute' });
        expect(manifest.tables.fact_sales!.columns.find((c) => c.name === 'prior_orders')).toMatchObject({ description: 'Orders of the customer before the order date.', role: 'feature' });
        for (const reader of READERS) {
          for (const table of ['fact_sales', 'customer_features', 'sales_daily', 'customer_training_set']) expect(result.stdout).toContain(`${reader}: ${table}: `);
        }
        // The training set read back with the documented dtypes (NOT NULL or not), checked above for
        // every reader; here pandas' own view of it, as the example reads it.
        for (const [name, dtype] of [['customer_id', 'int64'], ['cutoff_date', 'datetime64[ms]'], ['age', 'Int64'], ['next_spend', 'float64'], ['ordered_again', 'bool'], ['next_orders', 'Int64']] as const) {
          expect(manifest.tables.customer_training_set!.columns.find((c) => c.name === name)?.pandas, name).toBe(dtype);
        }
      });
    }

    it('hive_layouts.py: pandas cannot read the partition column stored in the files too, nor a NULL partition; polars and DuckDB can', async () => {
      const table = path.join(exported.order_year!, 'fact_sales');
      const manifest = JSON.parse(await readFile(path.join(exported.order_year!, '_manifest.json'), 'utf8')) as Manifest;
      const parts = manifest.tables.fact_sales!.files.map((f) => ({ year: Number(f.partition!.order_year), rows: f.rows })).sort((a, b) => a.year - b.year);
      const work = await mkdtemp(path.join(root, 'layouts-'));
      const { stdout } = await run(PYTHON, [LAYOUTS, table, 'order_year', work]);
      type Outcome = { rows?: number; dtype?: string; error?: string };
      const result = JSON.parse(stdout) as Record<'column_in_files' | 'null_partition', Record<(typeof READERS)[number], Outcome>>;
      // column_in_files: "Unable to merge: Field order_year has incompatible types: int64 vs dictionary<…>"
      expect(result.column_in_files.pandas.error, JSON.stringify(result.column_in_files.pandas)).toMatch(/merge|incompatible/i);
      // null_partition: "Cannot yet unify dictionaries with nulls"
      expect(result.null_partition.pandas.error, JSON.stringify(result.null_partition.pandas)).toMatch(/unify|null/i);
      expect(result.column_in_files.polars).toEqual({ rows: 20000, dtype: 'Int64' });
      expect(result.column_in_files.duckdb).toEqual({ rows: 20000, dtype: 'BIGINT' });
      // the NULL folder is a copy of the first partition's
      expect(result.null_partition.polars).toEqual({ rows: 20000 + parts[0]!.rows, dtype: 'Int64' });
      expect(result.null_partition.duckdb).toEqual({ rows: 20000 + parts[0]!.rows, dtype: 'BIGINT' });
    });

    it('check_exports.py fails when a column of customer_training_set has no role', async () => {
      const out = path.join(root, 'unroled', 'exports');
      const { next_orders: _unroled, ...docs } = COLUMN_DOCS.customer_training_set;
      await exportGold({
        connection: testConnection(), schemas: { gold: schema }, exportsDir: out, runId: 8, asOf: '2014-01-29', inputFiles: [],
        rowGroupSize: 4096, compression: 'zstd', tables: ['customer_training_set'], columnDocs: { customer_training_set: docs },
      });
      const failed = await run(PYTHON, [SCRIPT, out, schema, '--readers', 'pandas'], { env: env() }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
      );
      expect(failed.code, failed.stdout).toBe(1);
      expect(failed.stdout).toContain('pyarrow: customer_training_set: 11 column roles match the manifest, 0 left out, 1 without');
      expect(failed.stderr).toMatch(/customer_training_set\/part-bucket-\d{3}\.parquet: next_orders has no role in medallion\.columns \(None; one of attribute, feature, key, label, lifetime\)/);
      expect(failed.stderr).toContain('1 check(s) failed');
    });

    // Runs last: it changes gold after the exports, so that each reader's figures no longer agree.
    it('check_exports.py fails for every reader when gold and the export disagree', async () => {
      expect(Object.keys(exported)).toEqual(['plain', 'order_year']);
      await client.query(`
        update ${schema}.sales_daily set revenue = revenue + 0.01 where date = date '2011-03-01' and category = 'Bikes';
        update ${schema}.fact_sales set product_cost = null where product_cost is not null and order_year = 2012 and quantity = 2;
        delete from ${schema}.fact_sales where order_year = 2013 and quantity = 3;
        update ${schema}.customer_training_set set customer_id = 11001 where customer_id = 11000 and cutoff_date = date '2013-01-01';
      `);
      for (const out of Object.values(exported)) {
        // a manifest whose role is not the files' (written through the link, into the version)
        const manifestPath = path.join(out, '_manifest.json');
        const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
        manifest.tables.fact_sales!.columns.find((c) => c.name === 'prior_orders')!.role = 'lifetime';
        await writeFile(manifestPath, JSON.stringify(manifest));
        const failed = await run(PYTHON, [SCRIPT, out, schema], { env: env() }).then(
          (r) => ({ code: 0, stderr: r.stderr }),
          (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? '' }),
        );
        expect(failed.code).toBe(1);
        for (const reader of READERS) {
          expect(failed.stderr).toMatch(new RegExp(`- ${reader}: sales_daily\\.revenue: sum `));
          expect(failed.stderr).toMatch(new RegExp(`- ${reader}: fact_sales\\.product_cost: \\d+ NULLs, Postgres \\d+`));
          expect(failed.stderr).toMatch(new RegExp(`- ${reader}: fact_sales: 20000 rows, Postgres \\d+`));
        }
        expect(failed.stderr).toMatch(/fact_sales\/.*part-(\d{4}-\d{2}|00000)\.parquet: prior_orders has description\/role \('Orders of the customer before the order date\.', 'feature'\) in the file, \('Orders of the customer before the order date\.', 'lifetime'\) in the manifest/);
        // a row moved from customer 11000's bucket (248) to 11001's (249): the total is the same
        expect(failed.stderr).toMatch(/customer_training_set\/part-bucket-248\.parquet: \d+ rows, Postgres \d+ in bucket 248/);
        expect(failed.stderr).toMatch(/customer_training_set\/part-bucket-249\.parquet: \d+ rows, Postgres \d+ in bucket 249/);
        if (out === exported.order_year) {
          for (const reader of READERS) expect(failed.stderr).toContain(`- ${reader}: fact_sales.order_year: rows per partition`);
        }
      }
    });
  });
});

describe('a partition column with NULLs', () => {
  it('fails the export before any file is written, naming the column (pandas cannot read a NULL partition)', async () => {
    const own = await withSchema('export_consumers_null');
    const dir = await mkdtemp(path.join(tmpdir(), 'export-null-partition-'));
    try {
      await own.client.query(`create table ${own.schema}.t as select g as id, case when g % 4 = 0 then null else 2010 + g % 3 end as year from generate_series(1, 40) g`);
      const err = await exportTable({
        client: own.client, schema: own.schema, table: 't', outDir: path.join(dir, 't'), partitionBy: 'year', rowGroupSize: 2048, compression: 'zstd',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MedallionError);
      expect(err).toMatchObject({ code: 'EXPORT_FAILED', context: { column: 'year' } });
      expect((err as Error).message).toContain(`${own.schema}.t.year has NULLs`);
      expect(existsSync(path.join(dir, 't'))).toBe(false);
      expect((await own.client.query<{ n: number }>(`select count(*)::int as n from ${own.schema}.t`)).rows[0]!.n, 'the connection is usable').toBe(40);
    } finally {
      await own.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
