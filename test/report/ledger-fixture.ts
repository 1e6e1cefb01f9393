/**
 * A small ledger in a throwaway target: what the etl tables hold after three runs (a success, a
 * failed run stopped at bronze, and a success with rejects, quarantine, superseded duplicates and a
 * failing test). Fixture data for the report renderer, written through ensureLedger's own tables.
 */
import type pg from 'pg';
import type { SchemaNames } from '../../src/config.ts';
import { ensureLedger } from '../../src/runs/ledger.ts';
import type { ModelRecord, RunSummary } from '../../src/runs/summary.ts';

const SOURCES = [
  ['cust_info', 'crm', 18_494],
  ['cust_az12', 'erp', 18_484],
  ['loc_a101', 'erp', 18_484],
  ['prd_info', 'crm', 397],
  ['px_cat_g1v2', 'erp', 37],
  ['sales_details', 'crm', 60_398],
] as const;

const MODELS: Omit<ModelRecord, 'status' | 'seconds'>[] = [
  { model: 'silver.customers', materialized: 'table', depends_on: ['bronze.cust_info', 'bronze.cust_az12', 'bronze.loc_a101'], rows: 18_484 },
  { model: 'silver.customers_quarantine', materialized: 'table', depends_on: ['bronze.cust_info'], rows: 4, quarantine: true },
  { model: 'silver.products', materialized: 'table', depends_on: ['bronze.prd_info', 'bronze.px_cat_g1v2'], rows: 397 },
  { model: 'silver.sales_clean', materialized: 'table', depends_on: ['bronze.sales_details', 'silver.customers', 'silver.products'], rows: 60_390 },
  { model: 'gold.fact_sales', materialized: 'table', depends_on: ['silver.sales_clean', 'silver.customers', 'silver.products'], rows: 60_390 },
  { model: 'gold.customer_features', materialized: 'table', depends_on: ['gold.fact_sales', 'silver.customers'], rows: 18_484 },
  { model: 'gold.sales_daily', materialized: 'table', depends_on: ['gold.fact_sales'], rows: 1_461 },
];

export interface LedgerFixture {
  runs: { good: number; failed: number; latest: number };
}

export async function writeLedgerFixture(client: pg.Client, schemas: SchemaNames, target: string): Promise<LedgerFixture> {
  await ensureLedger(client, schemas);
  const e = `"${schemas.etl}"`;
  // The summary names the run itself (its exports' source_run_id): it is written once the id is known.
  const insertRun = async (status: string, exitCode: number, startedMinutesAgo: number, seconds: number, stages: unknown[], summary: (runId: number) => RunSummary, error?: [string, string]) => {
    const { rows } = await client.query<{ run_id: number }>(
      `insert into ${e}.runs (target, command, as_of, started_at, finished_at, status, exit_code, error_code, error_message, stages, summary)
       values ($1, 'build', '2014-01-29', now() - make_interval(mins => $2), now() - make_interval(mins => $2) + make_interval(secs => $3),
               $4, $5, $6, $7, $8::jsonb, $9::jsonb) returning run_id`,
      [target, startedMinutesAgo, seconds, status, exitCode, error?.[0] ?? null, error?.[1] ?? null, JSON.stringify(stages), '{}'],
    );
    const runId = Number(rows[0]!.run_id);
    await client.query(`update ${e}.runs set summary = $2::jsonb where run_id = $1`, [runId, JSON.stringify(summary(runId))]);
    return runId;
  };
  const sourceFiles = async (runId: number, rejects: Record<string, number>) => {
    for (const [source, , records] of SOURCES) {
      const rej = rejects[source] ?? 0;
      await client.query(
        `insert into ${e}.source_files values ($1, $2, $3, $4, $5, 'CRLF', 'UTF-8', $6, $7, $8, 0, $9)`,
        [runId, source, `seeds/bronze/${source}.csv`, 'a'.repeat(64), records * 40, records, records - rej, rej, records / 200_000],
      );
    }
  };
  const stagesOk = (scale: number) => [
    { stage: 'bronze', status: 'success', seconds: 1.9 * scale, rows: 116_284 },
    { stage: 'silver', status: 'success', seconds: 2.4 * scale, rows: 79_275 },
    { stage: 'gold', status: 'success', seconds: 3.1 * scale, rows: 80_335 },
    { stage: 'tests', status: 'success', seconds: 0.8 * scale },
    { stage: 'publish', status: 'success', seconds: 0.05 },
    { stage: 'export', status: 'success', seconds: 1.2 * scale, rows: 80_335 },
  ];
  const exportsSummary = (runId: number): RunSummary['exports'] => ({
    dir: 'exports',
    source_run_id: runId,
    tables: [
      { table: 'fact_sales', rows: 60_390, files: [{ path: 'exports/fact_sales.parquet', bytes: 2_400_000 }] },
      { table: 'customer_features', rows: 18_484, files: [{ path: 'exports/customer_features.parquet', bytes: 700_000 }] },
      { table: 'sales_daily', rows: 1_461, files: [{ path: 'exports/sales_daily.parquet', bytes: 30_000 }] },
    ],
  });

  const good = await insertRun('success', 0, 90, 9.8, stagesOk(1.1), (runId) => ({ version: 1, models: MODELS.map((m) => ({ ...m, status: 'success', seconds: 0.4 })), exports: exportsSummary(runId) }));
  await sourceFiles(good, { sales_details: 3 });

  const failed = await insertRun('failed', 1, 60, 1.2, [{ stage: 'bronze', status: 'failed', seconds: 1.1 }], () => ({ version: 1 }), ['BRONZE_HEADER_MISMATCH', 'seeds/bronze/prd_info.csv:1: header does not match the contract']);

  const latest = await insertRun('success', 0, 5, 8.7, stagesOk(1), (runId) => ({
    version: 1,
    models: MODELS.map((m, i) => ({ ...m, status: 'success', seconds: 0.2 + i * 0.15 })),
    exports: exportsSummary(runId),
  }));
  await sourceFiles(latest, { sales_details: 2, cust_info: 1 });
  await client.query(
    `insert into ${e}.rejects (run_id, source, file, line_number, column_number, reason, message, raw_text, raw_bytes) values
       ($1, 'sales_details', 'seeds/bronze/sales_details.csv', 1207, 10, 'field_count', 'expected 9 fields, got 10', 'SO5,BK-R93R-62,1,20101229,20110105,20110110,3578,1,3578,x', '\\x00'),
       ($1, 'sales_details', 'seeds/bronze/sales_details.csv', 30411, null, 'unterminated_quote', 'a quoted field is not closed before the end of the file', 'SO9,"BK-R<script>alert(1)</script>', '\\x00'),
       ($1, 'cust_info', 'seeds/bronze/cust_info.csv', 77, 2, 'invalid_utf8', 'byte 0xff is not UTF-8', 'AW0001�', '\\x00')`,
    [latest],
  );
  await client.query(
    `insert into ${e}.rule_counts values
       ($1, 'silver.customers', 'customer_duplicate_superseded', 'superseded', 6, 'An older record of a duplicated customer.'),
       ($1, 'silver.customers', 'customer_name_trimmed', 'repair', 17, 'First or last name had stray spaces.'),
       ($1, 'silver.customers', 'customer_id_invalid', 'quarantine', 4, 'Empty or non-integer cst_id.'),
       ($1, 'silver.sales_clean', 'sales_key_missing', 'quarantine', 3, null),
       ($1, 'silver.sales_clean', 'sales_exact_duplicate_collapsed', 'superseded', 5, 'Exact duplicate lines collapse to one.'),
       ($1, 'gold.fact_sales', 'product_before_first_version', 'flag', 18388, 'Order dated before any product version.')`,
    [latest],
  );
  await client.query(
    `insert into ${e}.quarantine values
       ($1, 'silver.customers', 'customer_id_invalid', 'CRM customer row has no cst_id; it cannot be identified.', 'seeds/bronze/cust_info.csv', 12, '{"cst_id": null, "cst_key": "AW00011012"}'),
       ($1, 'silver.customers', 'customer_id_invalid', 'CRM customer row has no cst_id; it cannot be identified.', 'seeds/bronze/cust_info.csv', 13, '{"cst_id": "", "cst_key": "AW00011013"}'),
       ($1, 'silver.customers', 'customer_id_invalid', 'CRM customer row has no cst_id; it cannot be identified.', 'seeds/bronze/cust_info.csv', 14, '{"cst_id": "x", "cst_key": null}'),
       ($1, 'silver.customers', 'customer_id_invalid', 'CRM customer row has no cst_id; it cannot be identified.', 'seeds/bronze/cust_info.csv', 15, '{"cst_id": "1.5"}'),
       ($1, 'silver.sales_clean', 'sales_key_missing', 'Sales line without an order number.', 'seeds/bronze/sales_details.csv', 100, '{"sls_ord_num": null}'),
       ($1, 'silver.sales_clean', 'sales_key_missing', 'Sales line without a product key.', 'seeds/bronze/sales_details.csv', 101, '{"sls_prd_key": ""}'),
       ($1, 'silver.sales_clean', 'sales_key_missing', 'Sales line without a customer id.', 'seeds/bronze/sales_details.csv', 102, '{"sls_cust_id": null}')`,
    [latest],
  );
  await client.query(
    `insert into ${e}.test_results values
       ($1, 'unique_gold_fact_sales_order_number_product_key', 'gold.fact_sales', 'unique', 'error', 'pass', 0, null, null, 0.12),
       ($1, 'not_null_silver_customers_customer_id', 'silver.customers', 'not_null', 'error', 'pass', 0, null, null, 0.01),
       ($1, 'ship_after_order', 'gold.fact_sales', 'expression', 'warn', 'warn', 2, '[{"order_number": "SO43697", "order_date": "2011-01-05", "ship_date": "2011-01-01"}, {"order_number": "SO43698", "order_date": "2011-01-07", "ship_date": null}]', 'ship_date >= order_date does not hold for 2 rows', 0.05),
       ($1, 'accepted_values_silver_customers_gender', 'silver.customers', 'accepted_values', 'error', 'fail', 1, '[{"gender": "F ", "customer_id": 11000}]', null, 0.02),
       ($1, 'sales_lines_bronze_eq_silver_plus_quarantine', 'silver.sales_clean', 'equal', 'error', 'pass', 0, null, null, 0.3)`,
    [latest],
  );
  return { runs: { good, failed, latest } };
}
