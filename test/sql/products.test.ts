/**
 * silver.products and its rules (sql/silver/int_product_records, int_product_categories, products,
 * products_quarantine): one small inline set of the six source files, one real build, then one test
 * per named rule — the input row's output in the published model (or its quarantine row) and the
 * rule's count for the run. Which version a sale uses is tested in gold.test.ts (fact_sales).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTarget, uniqueTarget } from '../support/database.ts';
import { buildFixture, describeFailure, type FixtureBuild, unplanned, sqlFor } from './helpers.ts';

const target = uniqueTarget('sql_prd');
const db = sqlFor(target);
let build: FixtureBuild | undefined;

// prd_info: prd_id, prd_key, prd_nm, prd_cost, prd_line, prd_start_dt, prd_end_dt
const PRD_INFO = [
  '210,CO-RF-FR-R92B-58,  HL Road Frame - Black- 58 ,1000,R ,2011-07-01,', // clean (name trimmed, not a rule)
  '300,BI-RB-BK-R93R-62,Road-150 Red- 62,2000,R ,2011-07-01,2007-12-28', // v1; product_end_date_ignored
  '302,BI-RB-BK-R93R-62,Road-150 Red- 62,2200,R ,2013-07-01,2012-01-01', // v3 (current); product_end_date_ignored
  '301,BI-RB-BK-R93R-62,Road-150 Red- 62,2100,R ,2012-07-01,', // v2 (file order is not version order)
  '400,CO-PE-PD-M340,Platform Pedal,25,M ,2011-07-01,', // product_category_unknown (CO_PE)
  '401,AC-BR-RA-H123,Bike Rack,,S ,2011-07-01,', // product_cost_missing
  '402,AC-BR-RA-H124,Rack Large,30,,2011-07-01,', // product_line_unknown (blank)
  '403,AC-BR-RA-H125,Rack Odd,30,X ,2011-07-01,', // product_line_unknown (X)
  '404,AC-BR-RA-H126,Rack Undated,30,T ,2011-13-01,', // product_start_date_invalid: sorts first
  '406,AC-BR-RA-H126,Rack Undated v2,32,T ,2012-01-01,', //   its next version
  '405,AC-BR-RA-H127,Rack Old,30,T ,2011-07-01,', // product_duplicate_superseded
  '405,AC-BR-RA-H127,Rack New,35,T ,2011-07-01,', //   kept: the later line
  ',AC-BR-RA-H128,No Id,30,T ,2011-07-01,', // product_id_invalid (empty)
  '4x6,AC-BR-RA-H129,Bad Id,30,T ,2011-07-01,', // product_id_invalid (not a whole number)
  '407,AC-BR,Short Key,30,T ,2011-07-01,', // product_key_invalid (shorter than 7 characters)
  '409,AC-BR-RA-H130,Rack Twin B,31,T ,2012-01-01,', // v2, with the same start as 408: kept (higher prd_id)
  '408,AC-BR-RA-H130,Rack Twin A,30,T ,2012-01-01,', //   product_version_same_start: left out
  '410,AC-BR-RA-H130,Rack Twin v1,29,T ,2011-07-01,', //   v1, ends the day before the kept v2
  '411,AC-HE-HL-U509,Sport Helmet,-13,S ,2011-07-01,', // product_cost_negative; category AC-HE below
];

// px_cat_g1v2: ID, CAT, SUBCAT, MAINTENANCE
const PX_CAT = [
  'CO_RF,Components,Road Frames,Yes',
  'BI_RB,Bikes,Road Bikes,Yes',
  'AC_BR,Accessories,Bike Racks,No', // product_category_duplicate_superseded
  'ac_br ,Accessories,Bike Racks,Yes', //   kept: the later line (ID trimmed, upper-cased)
  ',Orphan,Category,No', // product_category_id_missing
  'CO_PD,Components,Pedals,Yes', // CO_PD exists; CO_PE does not
  'AC-HE,Accessories,Helmets,Maybe', // product_category_id_dash (AC_HE); product_category_maintenance_unknown
];

const SALES = [
  'SO1,FR-R92B-58,11000,20130801,20130808,20130813,1200,1,1200',
  'SO2,RA-H123,11000,20130802,20130809,20130814,40,1,40', // product with unknown cost: profit NULL
  'SO3,BK-R93R-62,11000,20130803,20130810,20130815,3000,1,3000',
];

function lineOf(lines: string[], prefix: string): number {
  const i = lines.findIndex((l) => l.startsWith(prefix));
  if (i < 0) throw new Error(`no fixture line starts with ${prefix}`);
  return i + 2;
}

interface Product {
  product_id: number;
  product_key: string;
  category_id: string;
  product_name: string;
  product_cost: number | null;
  product_line: string;
  category: string;
  subcategory: string;
  maintenance: string;
  start_date: string | null;
  end_date: string | null;
  is_current: boolean;
  version_number: number;
}

async function product(id: number): Promise<Product> {
  return db.one<Product & Record<string, unknown>>(
    `select product_id::int as product_id, product_key, category_id, product_name, product_cost::float8 as product_cost,
            product_line, category, subcategory, maintenance, start_date::text as start_date, end_date::text as end_date,
            is_current, version_number
       from silver.products where product_id = $1`,
    [id],
  );
}

beforeAll(async () => {
  build = await buildFixture(target, {
    cust_info: ['11000,AW00011000,Jon,Yang,M,M,2025-10-06'],
    cust_az12: ['NASAW00011000,1971-10-06,Male'],
    loc_a101: ['AW-00011000,Australia'],
    prd_info: PRD_INFO,
    px_cat_g1v2: PX_CAT,
    sales_details: SALES,
  });
  expect(build.result.code, describeFailure(build.result)).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await build?.cleanup();
});

const EXPECTED_COUNTS = {
  product_id_invalid: 2,
  product_key_invalid: 1,
  product_category_id_missing: 1,
  product_duplicate_superseded: 1,
  product_version_same_start: 1,
  product_end_date_ignored: 2,
  product_cost_missing: 1,
  product_cost_negative: 1,
  product_category_id_dash: 1,
  product_category_maintenance_unknown: 1,
  product_line_unknown: 2,
  product_start_date_invalid: 1,
  product_category_duplicate_superseded: 1,
  product_category_unknown: 1,
};

describe('silver.products: one test per rule', () => {
  it('product_id_invalid: prd_info rows with an empty or non-integer prd_id are quarantined', async () => {
    const rows = await db.quarantined('product_id_invalid');
    expect(rows.map(({ message, ...r }) => r)).toEqual([
      {
        model: 'silver.products',
        rule: 'product_id_invalid',
        source_file: 'prd_info.csv',
        line_number: lineOf(PRD_INFO, ',AC-BR-RA-H128'),
        values: { prd_id: null, prd_key: 'AC-BR-RA-H128', prd_nm: 'No Id' },
      },
      {
        model: 'silver.products',
        rule: 'product_id_invalid',
        source_file: 'prd_info.csv',
        line_number: lineOf(PRD_INFO, '4x6'),
        values: { prd_id: '4x6', prd_key: 'AC-BR-RA-H129', prd_nm: 'Bad Id' },
      },
    ]);
    expect(await db.rows(`select 1 from silver.products where product_key in ('RA-H128', 'RA-H129')`)).toEqual([]);
    expect(await db.ruleCount('product_id_invalid')).toBe(2);
  });

  it('product_key_invalid: a prd_key shorter than 7 characters is quarantined', async () => {
    const rows = await db.quarantined('product_key_invalid');
    expect(rows.map(({ message, ...r }) => r)).toEqual([
      {
        model: 'silver.products',
        rule: 'product_key_invalid',
        source_file: 'prd_info.csv',
        line_number: lineOf(PRD_INFO, '407,'),
        values: { prd_id: '407', prd_key: 'AC-BR', prd_nm: 'Short Key' },
      },
    ]);
    expect(await db.rows('select 1 from silver.products where product_id = 407')).toEqual([]);
    expect(await db.ruleCount('product_key_invalid')).toBe(1);
  });

  it('product_category_id_missing: a px_cat_g1v2 row with an empty ID is quarantined', async () => {
    const rows = await db.quarantined('product_category_id_missing');
    expect(rows.map(({ message, ...r }) => r)).toEqual([
      {
        model: 'silver.products',
        rule: 'product_category_id_missing',
        source_file: 'px_cat_g1v2.csv',
        line_number: lineOf(PX_CAT, ',Orphan'),
        values: { id: null, cat: 'Orphan', subcat: 'Category' },
      },
    ]);
    expect(await db.ruleCount('product_category_id_missing')).toBe(1);
  });

  it('product_duplicate_superseded: two rows with one prd_id -> the later line wins', async () => {
    expect(await product(405)).toMatchObject({ product_name: 'Rack New', product_cost: 35 });
    expect(await db.one('select count(*)::int as n from silver.products where product_id = 405')).toEqual({ n: 1 });
    expect(await db.ruleCount('product_duplicate_superseded')).toBe(1);
  });

  it('product_version_same_start: of two versions of a key starting the same day, the higher prd_id is kept and the other left out', async () => {
    const versions = await db.rows(
      `select product_id::int as id, start_date::text as start, end_date::text as end, is_current, version_number as v
         from silver.products where product_key = 'RA-H130' order by version_number`,
    );
    expect(versions).toEqual([
      { id: 410, start: '2011-07-01', end: '2011-12-31', is_current: false, v: 1 },
      { id: 409, start: '2012-01-01', end: null, is_current: true, v: 2 },
    ]);
    const left = await db.one(`select record_status from silver.int_product_records where product_id = 408`);
    expect(left).toEqual({ record_status: 'same_start_superseded' });
    expect(await db.quarantined('product_version_same_start')).toEqual([]);
    expect(await db.ruleCount('product_version_same_start')).toBe(1);
  });

  it('product_end_date_ignored: prd_end_dt is ignored; a version ends the day before the next starts', async () => {
    const versions = await db.rows(
      `select product_id::int as id, start_date::text as start, end_date::text as end, is_current, version_number as v, product_cost::float8 as cost
         from silver.products where product_key = 'BK-R93R-62' order by version_number`,
    );
    expect(versions).toEqual([
      { id: 300, start: '2011-07-01', end: '2012-06-30', is_current: false, v: 1, cost: 2000 },
      { id: 301, start: '2012-07-01', end: '2013-06-30', is_current: false, v: 2, cost: 2100 },
      { id: 302, start: '2013-07-01', end: null, is_current: true, v: 3, cost: 2200 },
    ]);
    expect(await db.ruleCount('product_end_date_ignored')).toBe(2);
  });

  it('product_cost_missing: an empty prd_cost stays NULL (no invented 0), so profit is NULL', async () => {
    expect((await product(401)).product_cost).toBeNull();
    const sale = await db.one(`select product_cost, profit, profit_margin from gold.fact_sales where order_number = 'SO2'`);
    expect(sale).toEqual({ product_cost: null, profit: null, profit_margin: null });
    expect(await db.ruleCount('product_cost_missing')).toBe(1);
  });

  it('product_cost_negative: a cost below zero is kept and counted', async () => {
    expect((await product(411)).product_cost).toBe(-13);
    expect(await db.ruleCount('product_cost_negative')).toBe(1);
  });

  it("product_category_id_dash: a px_cat_g1v2 ID written with '-' is read with '_', so its products find it", async () => {
    expect(await product(411)).toMatchObject({ category_id: 'AC_HE', category: 'Accessories', subcategory: 'Helmets' });
    expect(await db.ruleCount('product_category_id_dash')).toBe(1);
  });

  it('product_category_maintenance_unknown: a MAINTENANCE that is not Yes/Y/No/N is Unknown', async () => {
    expect((await product(411)).maintenance).toBe('Unknown');
    expect(await db.ruleCount('product_category_maintenance_unknown')).toBe(1);
  });

  it('product_line_unknown: a blank or unrecognized prd_line is Unknown; codes are decoded after trimming', async () => {
    expect((await product(402)).product_line).toBe('Unknown');
    expect((await product(403)).product_line).toBe('Unknown');
    expect((await product(210)).product_line).toBe('Road'); // 'R '
    expect((await product(400)).product_line).toBe('Mountain');
    expect((await product(401)).product_line).toBe('Other Sales');
    expect((await product(405)).product_line).toBe('Touring');
    expect(await db.ruleCount('product_line_unknown')).toBe(2);
  });

  it('product_start_date_invalid: an impossible prd_start_dt gives start_date NULL and sorts first', async () => {
    expect(await product(404)).toMatchObject({ start_date: null, end_date: '2011-12-31', version_number: 1, is_current: false });
    expect(await product(406)).toMatchObject({ start_date: '2012-01-01', end_date: null, version_number: 2, is_current: true });
    expect(await db.ruleCount('product_start_date_invalid')).toBe(1);
  });

  it('product_category_duplicate_superseded: two px_cat_g1v2 rows with one ID -> the later line wins, no extra products', async () => {
    expect(await product(401)).toMatchObject({ category_id: 'AC_BR', category: 'Accessories', subcategory: 'Bike Racks', maintenance: 'Yes' });
    expect(await db.one(`select count(*)::int as n from silver.products where category_id = 'AC_BR'`)).toEqual({ n: 8 }) // 401-406, 409 and 410, once each;
    expect(await db.ruleCount('product_category_duplicate_superseded')).toBe(1);
  });

  it('product_category_unknown: a prefix without a px_cat_g1v2 row (CO_PE) gives Unknown category, subcategory, maintenance', async () => {
    expect(await product(400)).toMatchObject({ category_id: 'CO_PE', category: 'Unknown', subcategory: 'Unknown', maintenance: 'Unknown' });
    expect(await db.ruleCount('product_category_unknown')).toBe(1);
  });
});

describe('silver.products: the rest of the contract', () => {
  it('derives product_key (from character 7), category_id (first 5, - -> _) and a trimmed name', async () => {
    expect(await product(210)).toEqual({
      product_id: 210,
      product_key: 'FR-R92B-58',
      category_id: 'CO_RF',
      product_name: 'HL Road Frame - Black- 58',
      product_cost: 1000,
      product_line: 'Road',
      category: 'Components',
      subcategory: 'Road Frames',
      maintenance: 'Yes',
      start_date: '2011-07-01',
      end_date: null,
      is_current: true,
      version_number: 1,
    });
    const ids = await db.rows<{ id: number }>('select product_id::int as id from silver.products order by 1');
    expect(ids.map((r) => r.id)).toEqual([210, 300, 301, 302, 400, 401, 402, 403, 404, 405, 406, 409, 410, 411]);
  });

  it('no rule outside the fixture plan counts any row (every other row is clean)', async () => {
    expect(unplanned(await db.ruleCounts(), EXPECTED_COUNTS)).toEqual({});
  });

  it('reconciles: bronze rows = silver (or kept) rows + superseded + quarantined, for every source', async () => {
    const entries = await db.reconciliation();
    for (const e of entries) expect(e.accounted, `${e.source}: ${JSON.stringify(e.parts)}`).toBe(e.bronze);
    const bySource = Object.fromEntries(entries.map((e) => [e.source, e]));
    expect(bySource.prd_info?.bronze).toBe(PRD_INFO.length);
    expect(bySource.px_cat_g1v2?.bronze).toBe(PX_CAT.length);
    expect(bySource.sales_details?.parts).toEqual({ fact_sales: 3, quarantined: 0, collapsed: 0, after_as_of: 0 });
  });
});
