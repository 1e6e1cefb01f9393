/**
 * gold.fact_sales, gold.customer_features and gold.sales_daily: one small inline set of the six source
 * files, one real build (as_of 2014-01-29), then one test per named rule of the gold models (orphans,
 * orders before the first product version, orders and customers of later days than as_of),
 * and the columns models.md defines: the product version
 * valid at the order date, behaviour as of the order (no leakage; two orders on one day), age at the
 * order date, lifetime columns, RFM of customer_features (incl. a customer without orders) and the
 * continuous zero-filled sales_daily series.
 */
import { describe, expect, it } from 'vitest';
import { dropTarget, uniqueTarget } from '../support/database.ts';
import { buildFixture, buildFixtureForSuite, describeFailure, sqlFor, unplanned } from './helpers.ts';

const target = uniqueTarget('sql_gold');
const db = sqlFor(target);

const CUST_INFO = [
  '11000,AW00011000,Jon,Yang,M,M,2025-10-06',
  '11001,AW00011001,Eva,Green,S,F,2025-10-06',
  '11002,AW00011002,Ann,Lee,M,F,2025-10-06', // no orders: frequency 0
  '11003,AW00011003,Liam,Stone,S,M,2025-10-06', // no ERP rows: age Unknown
  '11004,AW00011004,Ida,Moss,M,F,2025-10-06',
  '11005,AW00011005,Ron,Vale,S,M,2025-10-06',
  '11006,AW00011006,Max,Hart,S,M,2025-10-06', // only an order after as_of: not known on the run's day
  '11007,AW00011007,Zoe,Park,S,F,2025-10-06', // the filler orders below
];
const CUST_AZ12 = [
  'NASAW00011000,1981-06-01,Male', // 30 on the day of its first order
  'AW00011001,1982-01-01,Female', // 29 the day before its 30th birthday
  'AW00011002,1975-07-07,Female',
  'AW00011004,1960-03-01,Female',
  'AW00011005,1970-01-01,Male',
  'AW00011006,1980-01-01,Male',
  'AW00011007,1990-01-01,Female',
];
const LOC_A101 = [
  'AW-00011000,Australia',
  'AW-00011001,Germany',
  'AW-00011002,France',
  'AW-00011004,Canada',
  'AW-00011005,United States',
  'AW-00011006,Canada',
  'AW-00011007,Canada',
];
const PRD_INFO = [
  '300,BI-RB-BK-R93R-62,Road-150 Red- 62,50,R ,2012-01-01,', // version 1: 2012-01-01 .. 2012-12-31
  '301,BI-RB-BK-R93R-62,Road-150 Red- 62 v2,66,R ,2013-01-01,', // version 2 (current) from 2013-01-01
  '500,AC-HE-HL-U509,Sport-100 Helmet,10,S ,2010-01-01,',
];
const PX_CAT = ['BI_RB,Bikes,Road Bikes,Yes', 'AC_HE,Accessories,Helmets,No'];
// sls_ord_num, sls_prd_key, sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price
const SALES = [
  'SO099,BK-R93R-62,11000,20110601,20110608,20110613,100,1,100', // sales_before_first_product_version
  'SO100,BK-R93R-62,11000,20120310,20120317,20120322,100,1,100', // a Saturday; two lines ...
  'SO100,HL-U509,11000,20120310,20120317,20120322,40,2,20', // ... of one order
  'SO101,HL-U509,11000,20120310,20120317,20120322,20,1,20', // a second order the same day
  'SO102,BK-R93R-62,11000,20121231,20130107,20130112,100,1,100', // last day of version 300
  'SO103,BK-R93R-62,11000,20130101,20130108,20130113,120,1,120', // first day of version 301
  'SO300,HL-U509,11001,20111231,20120107,20120112,20,1,20',
  'SO201,ZZ-9999,11001,20130901,20130908,20130913,10,1,10', // sales_product_unknown
  'SO301,HL-U509,11003,20130701,20130708,20130713,50,1,50',
  'SO302,HL-U509,11004,20130601,20130608,20130613,70,1,70',
  'SO303,HL-U509,11005,20130601,20130608,20130613,90,1,90',
  'SO200,HL-U509,99999,20130801,20130808,20130813,20,1,20', // sales_customer_unknown
  'SO400,HL-U509,11004,20140301,20140308,20140313,20,1,20', // after as_of: not in silver or gold (sales_after_as_of)
  'SO600,HL-U509,11006,20140401,20140408,20140413,20,1,20', // after as_of: 11006 is not known yet (customer_after_as_of)
  // Clean filler orders on the last day before as_of with an order, so that each orphan above is 1
  // line in 20: fact_sales declares that at least 95% of its lines find their customer, product and
  // category.
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((d) => `SO50${d},HL-U509,11007,20130901,20130908,20130913,20,1,20`),
];

type Row = Record<string, unknown>;

/** fact_sales rows of an order (dates as text, money as numbers), by product key. */
async function fact(order: string, columns: string): Promise<Row[]> {
  return db.rows(`select ${columns} from gold.fact_sales where order_number = $1 order by product_key`, [order]);
}

async function features(id: number): Promise<Row> {
  return db.one(
    `select customer_id::int as customer_id, customer_name, age, age_bracket, first_order_date::text as first_order_date,
            last_order_date::text as last_order_date, recency_days, frequency, monetary::float8 as monetary,
            avg_order_value::float8 as avg_order_value, total_quantity::int as total_quantity, distinct_products,
            distinct_categories, tenure_days, r_score, f_score, m_score, rfm_segment
       from gold.customer_features where customer_id = $1`,
    [id],
  );
}

const BEHAVIOUR = `order_number, product_key, customer_order_seq, is_first_order, prior_orders, prior_spend::float8 as prior_spend,
  prior_avg_order_value::float8 as prior_avg_order_value, days_since_prev_order, customer_tenure_days`;

buildFixtureForSuite(target, {
  cust_info: CUST_INFO,
  cust_az12: CUST_AZ12,
  loc_a101: LOC_A101,
  prd_info: PRD_INFO,
  px_cat_g1v2: PX_CAT,
  sales_details: SALES,
});

const EXPECTED_COUNTS = {
  sales_customer_unknown: 1,
  sales_product_unknown: 1,
  sales_before_first_product_version: 1,
  // customer 11003 has no ERP rows (tested in customers.test.ts; here it gives an Unknown age)
  customer_without_erp_demographics: 1,
  customer_without_erp_location: 1,
  // SO400 and SO600 are dated after as_of; 11006's only order is SO600
  sales_after_as_of: 2,
  customer_after_as_of: 1,
};

describe('gold.fact_sales: one test per rule', () => {
  it('sales_customer_unknown: a line whose customer is not in silver.customers is kept, shown as Unknown', async () => {
    expect(await fact('SO200', 'customer_id::int as customer_id, customer_known, customer_name, gender, marital_status, country, birthdate, age, age_bracket, category')).toEqual([
      {
        customer_id: 99999,
        customer_known: false,
        customer_name: null,
        gender: 'Unknown',
        marital_status: 'Unknown',
        country: 'Unknown',
        birthdate: null,
        age: null,
        age_bracket: 'Unknown',
        category: 'Accessories',
      },
    ]);
    expect(await db.rows('select 1 from gold.customer_features where customer_id = 99999')).toEqual([]);
    expect(await db.ruleCount('sales_customer_unknown')).toBe(1);
  });

  it('sales_product_unknown: a line whose product key has no version is kept, shown as Unknown', async () => {
    expect(
      await fact(
        'SO201',
        `product_id, product_version_match, product_name, category, subcategory, maintenance, product_line, prd_status,
         product_cost, profit, profit_margin, sales_amount::float8 as sales_amount, customer_known`,
      ),
    ).toEqual([
      {
        product_id: null,
        product_version_match: 'unknown_product',
        product_name: null,
        category: 'Unknown',
        subcategory: 'Unknown',
        maintenance: 'Unknown',
        product_line: 'Unknown',
        prd_status: 'Unknown',
        product_cost: null,
        profit: null,
        profit_margin: null,
        sales_amount: 10,
        customer_known: true,
      },
    ]);
    expect(await db.ruleCount('sales_product_unknown')).toBe(1);
  });

  it('sales_before_first_product_version: an order before the first version uses the earliest one, flagged', async () => {
    expect(await fact('SO099', 'product_id::int as product_id, product_version_match, prd_status, product_cost::float8 as cost, profit::float8 as profit')).toEqual([
      { product_id: 300, product_version_match: 'before_first_version', prd_status: 'Superseded', cost: 50, profit: 50 },
    ]);
    expect(await db.ruleCount('sales_before_first_product_version')).toBe(1);
  });
});

describe('gold.fact_sales: columns', () => {
  it('joins the product version valid at the order date (boundaries included)', async () => {
    const rows = await db.rows(
      `select order_number, order_date::text as order_date, product_id::int as product_id, product_version_match, prd_status,
              product_name, product_cost::float8 as cost, profit::float8 as profit, profit_margin::float8 as margin
         from gold.fact_sales where product_key = 'BK-R93R-62' order by order_date`,
    );
    expect(rows).toEqual([
      { order_number: 'SO099', order_date: '2011-06-01', product_id: 300, product_version_match: 'before_first_version', prd_status: 'Superseded', product_name: 'Road-150 Red- 62', cost: 50, profit: 50, margin: 50 },
      { order_number: 'SO100', order_date: '2012-03-10', product_id: 300, product_version_match: 'valid', prd_status: 'Superseded', product_name: 'Road-150 Red- 62', cost: 50, profit: 50, margin: 50 },
      { order_number: 'SO102', order_date: '2012-12-31', product_id: 300, product_version_match: 'valid', prd_status: 'Superseded', product_name: 'Road-150 Red- 62', cost: 50, profit: 50, margin: 50 },
      { order_number: 'SO103', order_date: '2013-01-01', product_id: 301, product_version_match: 'valid', prd_status: 'Active', product_name: 'Road-150 Red- 62 v2', cost: 66, profit: 54, margin: 45 },
    ]);
  });

  it('behaviour as of the order: only orders of earlier days count; two orders the same day share their sequence number', async () => {
    const rows = await db.rows(
      `select ${BEHAVIOUR} from gold.fact_sales where customer_id = 11000 order by order_date, order_number, product_key`,
    );
    expect(rows).toEqual([
      { order_number: 'SO099', product_key: 'BK-R93R-62', customer_order_seq: 1, is_first_order: true, prior_orders: 0, prior_spend: 0, prior_avg_order_value: null, days_since_prev_order: null, customer_tenure_days: 0 },
      { order_number: 'SO100', product_key: 'BK-R93R-62', customer_order_seq: 2, is_first_order: false, prior_orders: 1, prior_spend: 100, prior_avg_order_value: 100, days_since_prev_order: 283, customer_tenure_days: 283 },
      { order_number: 'SO100', product_key: 'HL-U509', customer_order_seq: 2, is_first_order: false, prior_orders: 1, prior_spend: 100, prior_avg_order_value: 100, days_since_prev_order: 283, customer_tenure_days: 283 },
      { order_number: 'SO101', product_key: 'HL-U509', customer_order_seq: 2, is_first_order: false, prior_orders: 1, prior_spend: 100, prior_avg_order_value: 100, days_since_prev_order: 283, customer_tenure_days: 283 },
      // 3 prior orders (SO099, SO100, SO101: orders, not lines) worth 100 + 140 + 20
      { order_number: 'SO102', product_key: 'BK-R93R-62', customer_order_seq: 4, is_first_order: false, prior_orders: 3, prior_spend: 260, prior_avg_order_value: 86.67, days_since_prev_order: 296, customer_tenure_days: 579 },
      { order_number: 'SO103', product_key: 'BK-R93R-62', customer_order_seq: 5, is_first_order: false, prior_orders: 4, prior_spend: 360, prior_avg_order_value: 90, days_since_prev_order: 1, customer_tenure_days: 580 },
    ]);
    // an order after as_of did not exist on the run's day: not in fact_sales
    expect(await fact('SO400', BEHAVIOUR)).toEqual([]);
  });

  it('lifetime columns count distinct orders (not lines) and include the future up to as_of', async () => {
    const rows = await db.rows(
      `select distinct total_orders, total_spend::float8 as total_spend, avg_order_revenue::float8 as avg_order_revenue, lifespan,
              last_order_date::text as last_order_date
         from gold.fact_sales where customer_id = 11000`,
    );
    expect(rows).toEqual([{ total_orders: 5, total_spend: 480, avg_order_revenue: 96, lifespan: 19, last_order_date: '2013-01-01' }]);
    // SO400 (2014-03-01) is after as_of: not part of 11004's lifetime in this run
    expect(await fact('SO302', 'total_orders, last_order_date::text as last_order_date')).toEqual([{ total_orders: 1, last_order_date: '2013-06-01' }]);
  });

  it('age is the calendar age at the order date, with its bracket', async () => {
    const rows = await db.rows(
      `select order_number, customer_id::int as customer_id, birthdate::text as birthdate, age, age_bracket
         from gold.fact_sales where customer_known order by order_number, product_key`,
    );
    const byOrder = Object.fromEntries(rows.map((r) => [r.order_number as string, r]));
    expect(byOrder.SO099).toMatchObject({ birthdate: '1981-06-01', age: 30, age_bracket: '30-39' }); // 30th birthday
    expect(byOrder.SO102).toMatchObject({ age: 31, age_bracket: '30-39' });
    expect(byOrder.SO300).toMatchObject({ birthdate: '1982-01-01', age: 29, age_bracket: '29 and Below' }); // day before 30
    expect(byOrder.SO201).toMatchObject({ age: 31, age_bracket: '30-39' });
    expect(byOrder.SO303).toMatchObject({ age: 43, age_bracket: '40-49' });
    expect(byOrder.SO302).toMatchObject({ age: 53, age_bracket: '50 and Above' });
    expect(byOrder.SO301).toMatchObject({ birthdate: null, age: null, age_bracket: 'Unknown' }); // no ERP row
  });

  it('customer and calendar attributes', async () => {
    expect(
      await fact(
        'SO100',
        `product_key, customer_name, gender, marital_status, country, customer_known, category, subcategory, maintenance, product_line,
         order_year, order_quarter, order_month, order_iso_week, order_day_of_week, order_day_of_month, is_weekend, days_to_ship, days_to_due,
         quantity, price::float8 as price, sales_amount::float8 as sales_amount, order_date_source`,
      ),
    ).toEqual([
      {
        product_key: 'BK-R93R-62', customer_name: 'Jon Yang', gender: 'Male', marital_status: 'Married', country: 'Australia', customer_known: true,
        category: 'Bikes', subcategory: 'Road Bikes', maintenance: 'Yes', product_line: 'Road',
        order_year: 2012, order_quarter: 1, order_month: 3, order_iso_week: 10, order_day_of_week: 6, order_day_of_month: 10, is_weekend: true,
        days_to_ship: 7, days_to_due: 12, quantity: 1, price: 100, sales_amount: 100, order_date_source: 'source',
      },
      {
        product_key: 'HL-U509', customer_name: 'Jon Yang', gender: 'Male', marital_status: 'Married', country: 'Australia', customer_known: true,
        category: 'Accessories', subcategory: 'Helmets', maintenance: 'No', product_line: 'Other Sales',
        order_year: 2012, order_quarter: 1, order_month: 3, order_iso_week: 10, order_day_of_week: 6, order_day_of_month: 10, is_weekend: true,
        days_to_ship: 7, days_to_due: 12, quantity: 2, price: 20, sales_amount: 40, order_date_source: 'source',
      },
    ]);
    // 2012-12-31 is a Monday of ISO week 1 (of 2013)
    expect(await fact('SO102', 'order_year, order_quarter, order_iso_week, order_day_of_week, is_weekend')).toEqual([
      { order_year: 2012, order_quarter: 4, order_iso_week: 1, order_day_of_week: 1, is_weekend: false },
    ]);
  });
});

describe('gold.customer_features (as of 2014-01-29)', () => {
  it('RFM of a customer with several orders: recency, frequency (orders), monetary, quintile scores and segment', async () => {
    expect(await features(11000)).toEqual({
      customer_id: 11000,
      customer_name: 'Jon Yang',
      age: 32, // at as_of, not at an order
      age_bracket: '30-39',
      first_order_date: '2011-06-01',
      last_order_date: '2013-01-01',
      recency_days: 393,
      frequency: 5,
      monetary: 480,
      avg_order_value: 96,
      total_quantity: 7,
      distinct_products: 2,
      distinct_categories: 2,
      tenure_days: 973,
      r_score: 1, // the least recent of 5 customers with orders
      f_score: 5,
      m_score: 5,
      rfm_segment: 'At Risk',
    });
    expect(await features(11001)).toMatchObject({ recency_days: 150, frequency: 2, monetary: 30, distinct_categories: 2, r_score: 5, f_score: 4, m_score: 1, rfm_segment: 'Loyal' });
    expect(await features(11003)).toMatchObject({ age: null, age_bracket: 'Unknown', r_score: 4, f_score: 1, m_score: 2, rfm_segment: 'Potential Loyalist' });
  });

  it('ignores orders dated on or after as_of (no leakage of the future)', async () => {
    // 11004 has SO302 (2013-06-01) and SO400 (2014-03-01, after as_of)
    expect(await features(11004)).toMatchObject({ last_order_date: '2013-06-01', recency_days: 242, frequency: 1, monetary: 70, r_score: 2, f_score: 1, m_score: 3, rfm_segment: 'Hibernating' });
    const [{ n }] = (await db.rows<{ n: number }>(`select count(*)::int as n from gold.customer_features where last_order_date >= '2014-01-29'`)) as [{ n: number }];
    expect(n).toBe(0);
  });

  it('a customer without orders is included with frequency 0, no scores, segment No Orders', async () => {
    expect(await features(11002)).toEqual({
      customer_id: 11002,
      customer_name: 'Ann Lee',
      age: 38,
      age_bracket: '30-39',
      first_order_date: null,
      last_order_date: null,
      recency_days: null,
      frequency: 0,
      monetary: 0,
      avg_order_value: null,
      total_quantity: 0,
      distinct_products: 0,
      distinct_categories: 0,
      tenure_days: null,
      r_score: null,
      f_score: null,
      m_score: null,
      rfm_segment: 'No Orders',
    });
    const [{ n }] = (await db.rows<{ n: number }>('select count(*)::int as n from gold.customer_features')) as [{ n: number }];
    expect(n).toBe(CUST_INFO.length - 1); // all but 11006, whose first order is after as_of
  });

  it('a single customer with orders scores 1 on each axis (percent_rank of one row is 0)', async () => {
    const single = uniqueTarget('sql_gold_single');
    const one = await buildFixture(single, {
      cust_info: CUST_INFO.slice(0, 2),
      cust_az12: CUST_AZ12.slice(0, 2),
      loc_a101: LOC_A101.slice(0, 2),
      prd_info: PRD_INFO,
      px_cat_g1v2: PX_CAT,
      sales_details: [SALES[6]!],
    });
    try {
      expect(one.result.code, describeFailure(one.result)).toBe(0);
      expect(
        await sqlFor(single).rows('select customer_id::int as customer_id, frequency, r_score, f_score, m_score, rfm_segment from gold.customer_features order by customer_id'),
      ).toEqual([
        { customer_id: 11000, frequency: 0, r_score: null, f_score: null, m_score: null, rfm_segment: 'No Orders' },
        { customer_id: 11001, frequency: 1, r_score: 1, f_score: 1, m_score: 1, rfm_segment: 'Hibernating' },
      ]);
    } finally {
      await dropTarget(single);
      await one.cleanup();
    }
  });
});

describe('gold.sales_daily', () => {
  it('is a continuous daily series per category from the first to the last order date before as_of, zeros included', async () => {
    const bounds = await db.rows(
      `select category, min(date)::text as first, max(date)::text as last, count(*)::int as days
         from gold.sales_daily group by category order by category`,
    );
    const days = 824; // 2011-06-01 .. 2013-09-01
    expect(bounds).toEqual([
      { category: 'Accessories', first: '2011-06-01', last: '2013-09-01', days },
      { category: 'Bikes', first: '2011-06-01', last: '2013-09-01', days },
      { category: 'Unknown', first: '2011-06-01', last: '2013-09-01', days },
    ]);
    const zero = await db.one(`select orders, lines, quantity::int as quantity, revenue::float8 as revenue, profit::float8 as profit, customers
                                 from gold.sales_daily where date = '2011-06-02' and category = 'Bikes'`);
    expect(zero).toEqual({ orders: 0, lines: 0, quantity: 0, revenue: 0, profit: 0, customers: 0 });
  });

  it('counts distinct orders and customers per day and category; revenue and profit sum the lines', async () => {
    const rows = await db.rows(
      `select date::text as date, category, orders, lines, quantity::int as quantity, revenue::float8 as revenue, profit::float8 as profit, customers
         from gold.sales_daily where (date, category) in (('2012-03-10', 'Accessories'), ('2012-03-10', 'Bikes'), ('2013-06-01', 'Accessories'), ('2013-09-01', 'Unknown'))
         order by date, category`,
    );
    expect(rows).toEqual([
      { date: '2012-03-10', category: 'Accessories', orders: 2, lines: 2, quantity: 3, revenue: 60, profit: 30, customers: 1 },
      { date: '2012-03-10', category: 'Bikes', orders: 1, lines: 1, quantity: 1, revenue: 100, profit: 50, customers: 1 },
      { date: '2013-06-01', category: 'Accessories', orders: 2, lines: 2, quantity: 2, revenue: 160, profit: 140, customers: 2 },
      { date: '2013-09-01', category: 'Unknown', orders: 1, lines: 1, quantity: 1, revenue: 10, profit: 0, customers: 1 },
    ]);
    const totals = await db.one(`select (select sum(revenue) from gold.sales_daily)::float8 as daily,
                                        (select sum(sales_amount) from gold.fact_sales where order_date < '2014-01-29')::float8 as fact`);
    expect(totals).toEqual({ daily: 900, fact: 900 }); // every line but SO400 and SO600 (after as_of)
  });
});

describe('gold: the whole run', () => {
  it('no rule outside the fixture plan counts any row (every other row is clean)', async () => {
    expect(unplanned(await db.ruleCounts(), EXPECTED_COUNTS)).toEqual({});
    expect(await db.ruleCount('customer_without_erp_demographics')).toBe(1);
  });

  it('sales_after_as_of, customer_after_as_of: lines and customers of later days are left out, counted, not quarantined', async () => {
    expect(await db.ruleCount('sales_after_as_of')).toBe(2);
    expect(await db.ruleCount('customer_after_as_of')).toBe(1);
    expect(await db.rows(`select 1 from gold.fact_sales where order_number in ('SO400', 'SO600')`)).toEqual([]);
    expect(await db.rows('select 1 from silver.customers where customer_id = 11006')).toEqual([]);
    expect(await db.rows('select 1 from etl.quarantine where line_number is not null and rule like $1', ['%after_as_of'])).toEqual([]);
  });

  it('reconciles: bronze sales lines = fact_sales + quarantined + collapsed duplicates + after as_of (orphans included)', async () => {
    const entries = await db.reconciliation();
    for (const e of entries) expect(e.accounted, `${e.source}: ${JSON.stringify(e.parts)}`).toBe(e.bronze);
    expect(entries.find((e) => e.source === 'sales_details')).toMatchObject({ bronze: SALES.length, parts: { fact_sales: SALES.length - 2, quarantined: 0, collapsed: 0, after_as_of: 2 } });
  });
});
