/**
 * The guards against publishing silent garbage, end to end through `medallion build`: a lookup file
 * that loads but matches nothing (relationships with min_coverage in sql/gold/fact_sales.yml), a
 * build that loses most of the published rows (row_count_change), and a default as_of that only an
 * implausible order date could set (sql/run/default_as_of.sql). Each build fails with exit 1 and
 * names the test that stopped it; nothing is published.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { SourceName } from '../../src/bronze/contracts.ts';
import { dropTarget, uniqueTarget } from '../support/database.ts';
import { buildFixture, describeFailure, sqlFor } from './helpers.ts';

const targets: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const t of targets) await dropTarget(t);
  for (const c of cleanups) await c();
});

const GOOD: Record<SourceName, string[]> = {
  cust_info: ['11000,AW00011000,Jon,Yang,M,M,2025-10-06', '11001,AW00011001,Eva,Green,S,F,2025-10-06'],
  cust_az12: ['NASAW00011000,1971-10-06,Male', 'AW00011001,1976-05-10,Female'],
  loc_a101: ['AW-00011000,Australia', 'AW-00011001,United States'],
  prd_info: ['210,CO-RF-FR-R92B-58,HL Road Frame - Black- 58,20,R ,2010-01-01,', '211,BI-RB-BK-R93R-62,Road-150 Red- 62,60,R ,2010-01-01,'],
  px_cat_g1v2: ['CO_RF,Components,Road Frames,Yes', 'BI_RB,Bikes,Road Bikes,Yes'],
  // sls_ord_num, sls_prd_key, sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price
  sales_details: [
    'SO1,BK-R93R-62,11000,20130101,20130108,20130113,100,1,100',
    'SO1,FR-R92B-58,11000,20130101,20130108,20130113,50,1,50',
    'SO2,BK-R93R-62,11001,20130201,20130208,20130213,100,1,100',
    'SO3,FR-R92B-58,11001,20130301,20130308,20130313,50,1,50',
  ],
};

/** Builds the six files (GOOD with `changes`) into `target`. */
async function build(target: string, changes: Partial<Record<SourceName, string[]>>, asOf?: string | null) {
  if (!targets.includes(target)) targets.push(target);
  const fixture = await buildFixture(target, { ...GOOD, ...changes }, asOf);
  cleanups.push(fixture.cleanup);
  return fixture.result;
}

/** The tests of the target's last run that did not pass: name, status, failing rows, message. */
async function notPassed(target: string) {
  return sqlFor(target).rows<{ test_name: string; status: string; failing_rows: number; message: string }>(
    `select test_name, status, failing_rows::int, message from etl.test_results
      where run_id = (select max(run_id) from etl.runs) and status <> 'pass' order by test_name`,
  );
}

describe('a lookup file that loads but matches nothing fails the run', () => {
  it('px_cat_g1v2 whose IDs match no product: every line is category Unknown -> fact_sales_category_coverage', async () => {
    const target = uniqueTarget('sql_guard_cat');
    const result = await build(target, { px_cat_g1v2: ['XX_RF,Components,Road Frames,Yes', 'XX_RB,Bikes,Road Bikes,Yes'] });
    expect(result.code, describeFailure(result)).toBe(1);
    expect(`${result.stdout}${result.stderr}`).toContain('TESTS_FAILED');
    expect(await notPassed(target)).toEqual([
      {
        test_name: 'fact_sales_category_coverage',
        status: 'fail',
        failing_rows: 4,
        message: '0 of 4 rows (0.0%) find their category in silver.int_product_categories.category; at least 95.0% must',
      },
    ]);
    expect(await sqlFor(target).rows(`select 1 from pg_namespace where nspname = $1`, [`${target}_gold`])).toEqual([]);
  });

  it('cust_info whose ids match no sale: every line has an unknown customer -> fact_sales_customer_coverage', async () => {
    const target = uniqueTarget('sql_guard_cust');
    const result = await build(target, {
      cust_info: ['12000,AW00012000,Jon,Yang,M,M,2025-10-06', '12001,AW00012001,Eva,Green,S,F,2025-10-06'],
      cust_az12: ['NASAW00012000,1971-10-06,Male', 'AW00012001,1976-05-10,Female'],
      loc_a101: ['AW-00012000,Australia', 'AW-00012001,United States'],
    });
    expect(result.code, describeFailure(result)).toBe(1);
    const failed = await notPassed(target);
    expect(failed.map((t) => [t.test_name, t.status, t.failing_rows])).toEqual([['fact_sales_customer_coverage', 'fail', 4]]);
    expect(failed[0]?.message).toBe('0 of 4 rows (0.0%) find their customer_id in silver.customers.customer_id; at least 95.0% must');
  });
});

describe('row_count_change: a build that loses most of the published rows is not published', () => {
  it('fails on gold (error), warns on silver, and keeps the published gold', async () => {
    const target = uniqueTarget('sql_guard_vol');
    const first = await build(target, {});
    expect(first.code, describeFailure(first)).toBe(0);
    const second = await build(target, { sales_details: GOOD.sales_details.slice(0, 1) });
    expect(second.code, describeFailure(second)).toBe(1);
    const failed = await notPassed(target);
    expect(failed.find((t) => t.test_name === 'row_count_change_gold_fact_sales')).toEqual({
      test_name: 'row_count_change_gold_fact_sales',
      status: 'fail',
      failing_rows: 3,
      // fact_sales is updated by customer: its count is the published one (the first run measured it)
      // less the partitions' rows plus the delta's
      message:
        "4 rows published, 1 row now (-75.0%; a drop of more than 50.0% fails); on the delta of gold.fact_sales (1 row of 2 customer_id partitions): the new count is the published count (measured by the published run) less its rows of the partitions plus the delta's",
    });
    expect(failed.find((t) => t.test_name === 'row_count_change_silver_int_sales_lines')).toMatchObject({ status: 'warn', failing_rows: 3 });
    // the models summary names it; the published fact_sales is the first build's
    expect(second.stdout).toContain('{"test":"row_count_change_gold_fact_sales","status":"fail","failing_rows":3}');
    expect(await sqlFor(target).one('select count(*)::int as n from gold.fact_sales')).toEqual({ n: 4 });
  });
});

describe('the default as_of never comes from an implausible order date', () => {
  it('a file whose only real order dates are before the plausible range has no default as_of', async () => {
    const target = uniqueTarget('sql_guard_asof');
    // products from 2010-01: the range starts 2009-01-01; these lines would make the as_of 1900-01-02
    const result = await build(
      target,
      { sales_details: ['SO1,BK-R93R-62,11000,19000101,19000108,19000113,100,1,100', 'SO2,BK-R93R-62,11001,0,20130208,20130213,100,1,100'] },
      null,
    );
    expect(result.code, describeFailure(result)).toBe(1);
    expect(`${result.stdout}${result.stderr}`).toContain('no sales line has a usable order date');
  });
});
