/**
 * silver.sales_clean and its rules (sql/silver/int_sales_ship_lead_time, int_sales_lines,
 * sales_clean, sales_quarantine): one small inline set of the six source files, one real build
 * (as_of 2014-01-29 and products from 2010-01-01, so dates are plausible from 2009-01-01 to
 * 2015-01-29: silver.int_sales_date_range), then one test per named
 * rule — the input line's output in silver.sales_clean (or its quarantine row) and the rule's count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTarget, uniqueTarget } from '../support/database.ts';
import { buildFixture, describeFailure, type FixtureBuild, unplanned, sqlFor } from './helpers.ts';

const target = uniqueTarget('sql_sales');
const db = sqlFor(target);
let build: FixtureBuild | undefined;

// sls_ord_num, sls_prd_key, sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price
const SALES = [
  'SO1,BK-R93R-62,11000,20130101,20130108,20130113,100,1,100', // clean
  ',BK-R93R-62,11000,20130101,20130108,20130113,100,1,100', // sales_key_missing (order number)
  'SO2,,11000,20130101,20130108,20130113,100,1,100', // sales_key_missing (product key)
  'SO3,BK-R93R-62,,20130101,20130108,20130113,100,1,100', // sales_key_missing (customer id)
  'SO4,BK-R93R-62,C11000,20130101,20130108,20130113,100,1,100', // sales_key_missing (customer id not a number)
  'SO5,BK-R93R-62,11000,20130201,20130208,20130213,100,1,100', // sales_exact_duplicate_collapsed
  'SO5,BK-R93R-62,11000,20130201,20130208,20130213,100,1,100', //   kept: the later copy
  'SO6,BK-R93R-62,11001,20130301,20130308,20130313,200,2,100', // sales_conflicting_duplicate
  'SO6,BK-R93R-62,11001,20130301,20130308,20130313,300,3,100', //   kept: the later line
  'SO7,BK-R93R-62,11000,20131345,20131208,20131213,100,1,100', // order_date_invalid (month 13) -> from ship
  'SO8,BK-R93R-62,11000,0,20131108,20131113,100,1,100', // order_date_invalid (0) -> from ship
  'SO9,BK-R93R-62,11000,5489,20131008,20131013,100,1,100', // order_date_invalid (short) -> from ship
  'SO10,BK-R93R-62,11000,32154,20130908,20130913,100,1,100', // order_date_invalid (short) -> from ship
  'SO11,BK-R93R-62,11000,99999999,20130808,20130813,100,1,100', // order_date_invalid (8 digits, no date) -> from ship
  'SO12,BK-R93R-62,11000,,20130708,20130713,100,1,100', // blank: not 'invalid', but repaired from ship
  'SO13,BK-R93R-62,11000,20990130,20130608,20130613,100,1,100', // order_date_implausible (after today: more than a year after the data's own as_of)
  'SO14,BK-R93R-62,11000,18991231,20130508,20130513,100,1,100', // order_date_implausible (before 1900)
  'SO15,BK-R93R-62,11001,20130401,20130408,20130413,100,1,100', // clean line of a two-line order
  'SO15,FR-R92B-58,11001,0,20130408,20130413,50,1,50', // order_date_invalid -> order_date_from_order
  'SO16,BK-R93R-62,11000,,,20130113,100,1,100', // order_date_unknown (no order date, no ship date)
  'SO17,BK-R93R-62,11000,20130201,20130230,20130213,100,1,100', // ship_date_invalid (Feb 30)
  'SO18,BK-R93R-62,11000,20130202,20130209,2013021,100,1,100', // due_date_invalid (7 digits)
  'SO19,BK-R93R-62,11001,20130501,20130508,20130513,300,3,', // price_derived (price empty)
  'SO20,BK-R93R-62,11001,20130502,20130509,20130514,300,3,0', // price_derived (price zero)
  'SO21,BK-R93R-62,11001,20130503,20130510,20130515,200,2,-100', // price_negative_abs
  'SO22,BK-R93R-62,11001,20130504,20130511,20130516,,2,100', // sales_amount_recomputed (sales empty)
  'SO23,BK-R93R-62,11001,20130505,20130512,20130517,-200,2,100', // sales_amount_recomputed (negative)
  'SO24,BK-R93R-62,11001,20130506,20130513,20130518,0,2,100', // sales_amount_recomputed (zero)
  'SO25,BK-R93R-62,11001,20130507,20130514,20130519,250,2,100', // sales_amount_recomputed (<> quantity x price)
  'SO26,BK-R93R-62,11001,20130508,20130515,20130520,300,0,100', // quantity_from_amount (0 -> 3)
  'SO27,BK-R93R-62,11001,20130509,20130516,20130521,500,2.5,100', // quantity_from_amount (2.5 -> 5)
  'SO28,BK-R93R-62,11001,20130510,20130517,20130522,200,,100', // quantity_from_amount (blank -> 2)
  'SO29,BK-R93R-62,11001,20130511,20130518,20130523,250,0,100', // sales_quantity_invalid (250 / 100 not whole)
  'SO30,BK-R93R-62,11001,20130512,20130519,20130524,,2.5,100', // sales_quantity_invalid (no sales to derive from)
  'SO31,BK-R93R-62,11001,20130513,20130520,20130525,300,,', // sales_quantity_invalid (no price to derive from)
  'SO32,BK-R93R-62,11001,20130514,20130521,20130526,,1,', // sales_amount_unknown (neither sales nor price)
  'SO33,BK-R93R-62,11001,20130515,20130522,20130527,0,1,0', // sales_amount_unknown (both zero)
  'SO34,BK-R93R-62,11000,20130601,20130608,,20,1,20', // sales_exact_duplicate_collapsed: a copy of the third line,
  'SO34,BK-R93R-62,11000,20130601,20130608,,30,1,30', //   not of the line after it (sales_conflicting_duplicate);
  'SO34,BK-R93R-62,11000,20130601,20130608,,20,1,20', //   kept: the latest (the blank due dates compare equal)
  'SO35,BK-R93R-62,11000,19000101,19000108,19000113,100,1,100', // order_date_implausible (a real date; ship, due NULL too)
  'SO36,BK-R93R-62,11000,20081231,20090107,20090112,100,1,100', // order_date_implausible (the day before the range)
  'SO37,BK-R93R-62,11000,20090101,20090108,20090113,100,1,100', // kept: the first plausible day
  'SO38,BK-R93R-62,11000,19000101,20130918,20130923,100,1,100', // order_date_implausible, and repairs no other line:
  'SO38,FR-R92B-58,11000,0,20130918,20130923,50,1,50', //   order_date_invalid -> from ship (2013-09-11), not 1900-01-01
  'SO39,BK-R93R-62,11001,20130601,19000108,20991231,100,1,100', // ship_date_invalid, due_date_invalid: outside the range
  'SO40,BK-R93R-62,11001,,20090103,20090108,100,1,100', // order_date_implausible: from ship, 2008-12-27 is before the range
  'SO41,BK-R93R-62,11001,20130610,20130617,20130605,100,1,100', // kept, due before the order: due_after_order warns
];

function lineOf(prefix: string, nth = 0): number {
  const hits = SALES.flatMap((l, i) => (l.startsWith(prefix) ? [i + 2] : []));
  if (hits[nth] === undefined) throw new Error(`no fixture line ${nth} starts with ${prefix}`);
  return hits[nth];
}

interface Line {
  order_number: string;
  product_key: string;
  customer_id: number;
  order_date: string;
  order_date_source: string;
  ship_date: string | null;
  due_date: string | null;
  quantity: number;
  price: number;
  sales_amount: number;
  amount_repair: string | null;
  line_number: number;
}

async function clean(order: string, productKey = 'BK-R93R-62'): Promise<Line> {
  return db.one<Line & Record<string, unknown>>(
    `select order_number, product_key, customer_id::int as customer_id, order_date::text as order_date, order_date_source,
            ship_date::text as ship_date, due_date::text as due_date, quantity::int as quantity, price::float8 as price,
            sales_amount::float8 as sales_amount, amount_repair, line_number::int as line_number
       from silver.sales_clean where order_number = $1 and product_key = $2`,
    [order, productKey],
  );
}

async function quarantineLines(rule: string): Promise<number[]> {
  return (await db.quarantined(rule)).map((r) => r.line_number);
}

async function notInSilver(order: string) {
  expect(await db.rows('select 1 from silver.sales_clean where order_number = $1', [order])).toEqual([]);
  expect(await db.rows('select 1 from gold.fact_sales where order_number = $1', [order])).toEqual([]);
}

beforeAll(async () => {
  build = await buildFixture(target, {
    cust_info: ['11000,AW00011000,Jon,Yang,M,M,2025-10-06', '11001,AW00011001,Eugène,Huang,S,F,2025-10-06'],
    cust_az12: ['NASAW00011000,1971-10-06,Male', 'AW00011001,1976-05-10,Female'],
    loc_a101: ['AW-00011000,Australia', 'AW-00011001,United States'],
    prd_info: ['210,CO-RF-FR-R92B-58,HL Road Frame - Black- 58,20,R ,2010-01-01,', '211,BI-RB-BK-R93R-62,Road-150 Red- 62,60,R ,2010-01-01,'],
    px_cat_g1v2: ['CO_RF,Components,Road Frames,Yes', 'BI_RB,Bikes,Road Bikes,Yes'],
    sales_details: SALES,
  });
  expect(build.result.code, describeFailure(build.result)).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await build?.cleanup();
});

const EXPECTED_COUNTS = {
  sales_key_missing: 4,
  sales_exact_duplicate_collapsed: 2,
  sales_conflicting_duplicate: 2,
  order_date_invalid: 7,
  order_date_from_ship: 7,
  order_date_from_order: 1,
  order_date_implausible: 6,
  order_date_unknown: 1,
  sales_before_first_product_version: 1, // SO37, a year before the product's first version
  ship_date_invalid: 3,
  due_date_invalid: 3,
  price_derived: 2,
  price_negative_abs: 1,
  sales_amount_recomputed: 4,
  quantity_from_amount: 3,
  sales_quantity_invalid: 3,
  sales_amount_unknown: 2,
};

describe('silver.sales_clean: one test per rule', () => {
  it('sales_key_missing: a missing order number, product key or (whole-number) customer id is quarantined', async () => {
    const rows = await db.quarantined('sales_key_missing');
    expect(rows.map((r) => r.line_number)).toEqual([lineOf(',BK'), lineOf('SO2,'), lineOf('SO3,'), lineOf('SO4,')]);
    for (const r of rows) expect(r).toMatchObject({ model: 'silver.sales_clean', rule: 'sales_key_missing', source_file: 'sales_details.csv' });
    expect(rows[3]?.values).toEqual({
      sls_ord_num: 'SO4',
      sls_prd_key: 'BK-R93R-62',
      sls_cust_id: 'C11000',
      sls_order_dt: '20130101',
      sls_ship_dt: '20130108',
      sls_due_dt: '20130113',
      sls_sales: '100',
      sls_quantity: '1',
      sls_price: '100',
    });
    expect(rows[0]?.values.sls_ord_num).toBeNull();
    for (const o of ['SO2', 'SO3', 'SO4']) await notInSilver(o);
    expect(await db.ruleCount('sales_key_missing')).toBe(4);
  });

  it('sales_exact_duplicate_collapsed: identical lines collapse into the later copy; nothing is quarantined', async () => {
    expect(await clean('SO5')).toMatchObject({ line_number: lineOf('SO5,', 1), quantity: 1, sales_amount: 100, amount_repair: null });
    expect(await db.one(`select count(*)::int as n from gold.fact_sales where order_number = 'SO5'`)).toEqual({ n: 1 });
    expect(await db.rows(`select 1 from etl.quarantine where values->>'sls_ord_num' = 'SO5'`)).toEqual([]);
    expect(await db.ruleCount('sales_exact_duplicate_collapsed')).toBe(2);
  });

  it('a line is an exact duplicate of any later identical line of its key, not only of the next one', async () => {
    expect(await clean('SO34')).toMatchObject({ line_number: lineOf('SO34,', 2), sales_amount: 20, due_date: null });
    const statuses = await db.rows(`select line_number::int as line, duplicate_status, line_status from silver.int_sales_lines where order_number = 'SO34' order by line_number`);
    expect(statuses).toEqual([
      { line: lineOf('SO34,', 0), duplicate_status: 'exact_duplicate', line_status: 'exact_duplicate' },
      { line: lineOf('SO34,', 1), duplicate_status: 'conflicting_duplicate', line_status: 'conflicting_duplicate' },
      { line: lineOf('SO34,', 2), duplicate_status: 'unique', line_status: 'kept' },
    ]);
  });

  it('sales_conflicting_duplicate: same (order, product) with other values -> the later line wins, the earlier is quarantined', async () => {
    expect(await clean('SO6')).toMatchObject({ line_number: lineOf('SO6,', 1), quantity: 3, price: 100, sales_amount: 300 });
    const rows = await db.quarantined('sales_conflicting_duplicate');
    expect(rows.map((r) => r.line_number)).toEqual([lineOf('SO6,', 0), lineOf('SO34,', 1)]);
    expect(rows[0]).toMatchObject({ line_number: lineOf('SO6,', 0), values: { sls_ord_num: 'SO6', sls_sales: '200', sls_quantity: '2' } });
    expect(await db.ruleCount('sales_conflicting_duplicate')).toBe(2);
  });

  it('order_date_invalid: 20131345, 0, 5489, 32154, 99999999 -> NULL, never a crash', async () => {
    for (const order of ['SO7', 'SO8', 'SO9', 'SO10', 'SO11']) {
      expect((await clean(order)).order_date_source, order).toBe('ship');
    }
    expect((await clean('SO15', 'FR-R92B-58')).order_date_source).toBe('order');
    expect((await clean('SO38', 'FR-R92B-58')).order_date_source).toBe('ship');
    // a blank order date is missing, not invalid: repaired, but not counted by this rule
    expect((await clean('SO12')).order_date_source).toBe('ship');
    expect(await db.ruleCount('order_date_invalid')).toBe(7);
  });

  it('order_date_implausible: a real order date outside the plausible range -> quarantined, never repaired', async () => {
    expect(await db.one('select earliest_plausible_date::text as earliest, latest_plausible_date::text as latest from silver.int_sales_date_range')).toEqual({
      earliest: '2009-01-01', // a year before the first product version (2010-01-01)
      latest: '2015-01-29', // as_of + 1 year
    });
    const rows = await db.quarantined('order_date_implausible');
    expect(rows.map((r) => r.line_number)).toEqual([lineOf('SO13,'), lineOf('SO14,'), lineOf('SO35,'), lineOf('SO36,'), lineOf('SO38,'), lineOf('SO40,')]);
    expect(rows[2]).toMatchObject({ model: 'silver.sales_clean', values: { sls_ord_num: 'SO35', sls_order_dt: '19000101' } });
    expect(rows[2]?.message).toMatch(/plausible range/);
    for (const o of ['SO13', 'SO14', 'SO35', 'SO36', 'SO40']) await notInSilver(o);
    // the first plausible day is kept; the implausible line of SO38 repairs no other line of its order
    expect(await clean('SO37')).toMatchObject({ order_date: '2009-01-01', order_date_source: 'source' });
    expect(await clean('SO38', 'FR-R92B-58')).toMatchObject({ order_date: '2013-09-11', order_date_source: 'ship' });
    expect(await db.rows(`select 1 from silver.sales_clean where order_number = 'SO38' and product_key = 'BK-R93R-62'`)).toEqual([]);
    expect(await db.one(`select min(order_date)::text as first, max(customer_tenure_days)::int as tenure from gold.fact_sales`)).toEqual({ first: '2009-01-01', tenure: 1795 }); // 2009-01-01 .. 2013-12-01
    expect(await db.ruleCount('order_date_implausible')).toBe(6);
  });

  it('order_date_from_ship: no order date on any line of the order -> ship date minus the modal lead time (7 days)', async () => {
    expect(await db.one('select lead_days from silver.int_sales_ship_lead_time')).toEqual({ lead_days: 7 });
    const repaired = await db.rows(
      `select order_number, order_date::text as order_date from silver.sales_clean where order_date_source = 'ship' order by order_date`,
    );
    expect(repaired).toEqual([
      { order_number: 'SO12', order_date: '2013-07-01' },
      { order_number: 'SO11', order_date: '2013-08-01' },
      { order_number: 'SO10', order_date: '2013-09-01' },
      { order_number: 'SO38', order_date: '2013-09-11' },
      { order_number: 'SO9', order_date: '2013-10-01' },
      { order_number: 'SO8', order_date: '2013-11-01' },
      { order_number: 'SO7', order_date: '2013-12-01' },
    ]);
    expect(await clean('SO7')).toMatchObject({ ship_date: '2013-12-08', due_date: '2013-12-13', amount_repair: null });
    expect(await db.ruleCount('order_date_from_ship')).toBe(7);
  });

  it('order_date_from_order: an invalid order date is taken from another line of the same order', async () => {
    expect(await clean('SO15', 'FR-R92B-58')).toMatchObject({ order_date: '2013-04-01', order_date_source: 'order', customer_id: 11001 });
    expect(await clean('SO15')).toMatchObject({ order_date: '2013-04-01', order_date_source: 'source' });
    expect(await db.ruleCount('order_date_from_order')).toBe(1);
  });

  it('order_date_unknown: no order date, no other line, no ship date -> quarantined', async () => {
    const rows = await db.quarantined('order_date_unknown');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      model: 'silver.sales_clean',
      source_file: 'sales_details.csv',
      line_number: lineOf('SO16,'),
      values: { sls_ord_num: 'SO16', sls_order_dt: null, sls_ship_dt: null, sls_due_dt: '20130113' },
    });
    expect(rows[0]?.message).toMatch(/order date/);
    await notInSilver('SO16');
    expect(await db.ruleCount('order_date_unknown')).toBe(1);
  });

  it('ship_date_invalid: an impossible ship date, or one outside the plausible range, becomes NULL; the line is kept', async () => {
    expect(await clean('SO17')).toMatchObject({ order_date: '2013-02-01', order_date_source: 'source', ship_date: null, due_date: '2013-02-13' });
    expect(await clean('SO39')).toMatchObject({ order_date: '2013-06-01', order_date_source: 'source', ship_date: null });
    // SO17, SO39 and the quarantined SO35 (1900-01-08)
    expect(await db.ruleCount('ship_date_invalid')).toBe(3);
  });

  it('due_date_invalid: a due date that is not 8 digits, or outside the plausible range, becomes NULL; the line is kept', async () => {
    expect(await clean('SO18')).toMatchObject({ order_date: '2013-02-02', ship_date: '2013-02-09', due_date: null });
    expect(await clean('SO39')).toMatchObject({ due_date: null }); // 2099-12-31
    expect(await db.ruleCount('due_date_invalid')).toBe(3);
  });

  it('price_derived: an empty or zero price = sales / quantity', async () => {
    for (const order of ['SO19', 'SO20']) {
      expect(await clean(order), order).toMatchObject({ quantity: 3, price: 100, sales_amount: 300, amount_repair: 'price_derived' });
    }
    expect(await db.ruleCount('price_derived')).toBe(2);
  });

  it('price_negative_abs: a negative price is a sign error (abs)', async () => {
    expect(await clean('SO21')).toMatchObject({ quantity: 2, price: 100, sales_amount: 200, amount_repair: 'price_negative_abs' });
    expect(await db.ruleCount('price_negative_abs')).toBe(1);
  });

  it('sales_amount_recomputed: sales empty, negative, zero or <> quantity x price -> quantity x price', async () => {
    for (const order of ['SO22', 'SO23', 'SO24', 'SO25']) {
      expect(await clean(order), order).toMatchObject({ quantity: 2, price: 100, sales_amount: 200, amount_repair: 'sales_amount_recomputed' });
    }
    expect(await db.ruleCount('sales_amount_recomputed')).toBe(4);
  });

  it('quantity_from_amount: quantity 0, 2.5 or blank with valid sales and price (whole ratio) -> sales / price', async () => {
    expect(await clean('SO26')).toMatchObject({ quantity: 3, price: 100, sales_amount: 300, amount_repair: 'quantity_from_amount' });
    expect(await clean('SO27')).toMatchObject({ quantity: 5, price: 100, sales_amount: 500, amount_repair: 'quantity_from_amount' });
    // A blank quantity is not a whole number >= 1 either (models.md: "quantity must be an integer >= 1 (else, when
    // sales and price are both valid and sales / price is whole, quantity = sales / price, counted" and "each repair
    // counted and flagged in amount_repair"): it must be flagged and counted like 0 and 2.5.
    expect(await clean('SO28')).toMatchObject({ quantity: 2, price: 100, sales_amount: 200, amount_repair: 'quantity_from_amount' });
    expect(await db.ruleCount('quantity_from_amount')).toBe(3);
  });

  it('sales_quantity_invalid: an invalid quantity that sales / price cannot recover is quarantined', async () => {
    expect(await quarantineLines('sales_quantity_invalid')).toEqual([lineOf('SO29,'), lineOf('SO30,'), lineOf('SO31,')]);
    const [first] = await db.quarantined('sales_quantity_invalid');
    expect(first?.values).toMatchObject({ sls_sales: '250', sls_quantity: '0', sls_price: '100' });
    for (const o of ['SO29', 'SO30', 'SO31']) await notInSilver(o);
    expect(await db.ruleCount('sales_quantity_invalid')).toBe(3);
  });

  it('sales_amount_unknown: neither a valid price nor valid sales -> quarantined', async () => {
    expect(await quarantineLines('sales_amount_unknown')).toEqual([lineOf('SO32,'), lineOf('SO33,')]);
    for (const o of ['SO32', 'SO33']) await notInSilver(o);
    expect(await db.ruleCount('sales_amount_unknown')).toBe(2);
  });
});

describe('silver.sales_clean: the rest of the contract', () => {
  it('keeps a clean line untouched, and gold.fact_sales has every kept line with the same values', async () => {
    expect(await clean('SO1')).toEqual({
      order_number: 'SO1',
      product_key: 'BK-R93R-62',
      customer_id: 11000,
      order_date: '2013-01-01',
      order_date_source: 'source',
      ship_date: '2013-01-08',
      due_date: '2013-01-13',
      quantity: 1,
      price: 100,
      sales_amount: 100,
      amount_repair: null,
      line_number: 2,
    });
    const diff = await db.rows(`
      (select order_number, product_key, customer_id, order_date, order_date_source, ship_date, due_date, quantity, price, sales_amount, amount_repair from silver.sales_clean
       except all
       select order_number, product_key, customer_id, order_date, order_date_source, ship_date, due_date, quantity, price, sales_amount, amount_repair from gold.fact_sales)
      union all
      (select order_number, product_key, customer_id, order_date, order_date_source, ship_date, due_date, quantity, price, sales_amount, amount_repair from gold.fact_sales
       except all
       select order_number, product_key, customer_id, order_date, order_date_source, ship_date, due_date, quantity, price, sales_amount, amount_repair from silver.sales_clean)`);
    expect(diff).toEqual([]);
  });

  it('a due date before the order date is kept as sent, and the warn test due_after_order names the line', async () => {
    expect(await db.one(`select due_date::text as due, days_to_due from gold.fact_sales where order_number = 'SO41'`)).toEqual({ due: '2013-06-05', days_to_due: -5 });
    const result = await db.one<{ status: string; n: number; sample: { order_number: string }[] }>(
      `select status, failing_rows::int as n, sample from etl.test_results where test_name = 'due_after_order' order by run_id desc limit 1`,
    );
    expect(result).toMatchObject({ status: 'warn', n: 1 });
    expect(result.sample.map((r) => r.order_number)).toEqual(['SO41']);
  });

  it('no rule outside the fixture plan counts any row (every other line is clean)', async () => {
    expect(unplanned(await db.ruleCounts(), EXPECTED_COUNTS)).toEqual({});
  });

  it('reconciles: bronze sales lines = fact_sales + quarantined + collapsed duplicates', async () => {
    const entries = await db.reconciliation();
    for (const e of entries) expect(e.accounted, `${e.source}: ${JSON.stringify(e.parts)}`).toBe(e.bronze);
    const sales = entries.find((e) => e.source === 'sales_details');
    // 48 lines: 4 key missing + 2 conflicting + 6 implausible + 1 order date unknown + 3 quantity + 2 amount quarantined, 2 collapsed
    expect(sales).toMatchObject({ bronze: SALES.length, parts: { fact_sales: 28, quarantined: 18, collapsed: 2 } });
  });
});
