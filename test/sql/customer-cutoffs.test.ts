/**
 * silver.int_customer_days and silver.int_customer_cutoffs on the label windows that the running
 * totals alone do not give: one small inline set of the six source files, one real build (as_of
 * 2014-01-29, cutoffs 2013-02-01 .. 2013-10-01), with an order whose lines fall on two days on
 * either side of a cutoff (it counts in that cutoff's window, once) and lines with decimals (the
 * label's spend has the scale of the window's own lines). Every label equals a direct
 * recomputation from silver.sales_clean, text for text.
 */
import { describe, expect, it } from 'vitest';
import { uniqueTarget } from '../support/database.ts';
import { buildFixtureForSuite, sqlFor } from './helpers.ts';

const target = uniqueTarget('sql_cutoffs');
const db = sqlFor(target);

const CUST_INFO = ['11000,AW00011000,Jon,Yang,M,M,2025-10-06', '11001,AW00011001,Eva,Green,S,F,2025-10-06'];
const CUST_AZ12 = ['AW00011000,1981-06-01,Male', 'AW00011001,1982-01-01,Female'];
const LOC_A101 = ['AW-00011000,Australia', 'AW-00011001,Germany'];
const PRD_INFO = ['300,BI-RB-BK-R93R-62,Road-150 Red- 62,50,R ,2012-01-01,', '500,AC-HE-HL-U509,Sport-100 Helmet,10,S ,2010-01-01,'];
const PX_CAT = ['BI_RB,Bikes,Road Bikes,Yes', 'AC_HE,Accessories,Helmets,No'];
// sls_ord_num, sls_prd_key, sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price
const SALES = [
  'SO700,HL-U509,11000,20130620,20130627,20130702,20,1,20', // one order on two days: before 2013-07-01 ...
  'SO700,BK-R93R-62,11000,20130705,20130712,20130717,120,1,120', // ... and in its window
  'SO701,HL-U509,11000,20130810,20130817,20130822,10.5,1,10.5', // decimals in the windows of 2013-07-01 and 2013-08-01
  'SO702,HL-U509,11000,20131020,20131027,20131101,20,1,20',
  'SO800,HL-U509,11001,20130301,20130308,20130313,20.25,1,20.25', // decimals before every window it is in
  'SO801,HL-U509,11001,20130415,20130422,20130427,20,1,20',
];

buildFixtureForSuite(target, { cust_info: CUST_INFO, cust_az12: CUST_AZ12, loc_a101: LOC_A101, prd_info: PRD_INFO, px_cat_g1v2: PX_CAT, sales_details: SALES });

describe('silver.int_customer_days', () => {
  it('holds a day per customer and day with a line, with the previous days of the orders it continues', async () => {
    const days = await db.rows<{ customer_id: number; order_date: string; frequency: number; order_starts: number; continued_from: string | null; spend_scale: number }>(
      `select customer_id, order_date::text as order_date, frequency::int as frequency, order_starts::int as order_starts,
              continued_from::text as continued_from, spend_scale
         from silver.int_customer_days where customer_id = 11000 order by order_date`);
    expect(days).toEqual([
      { customer_id: 11000, order_date: '2013-06-20', frequency: 1, order_starts: 1, continued_from: null, spend_scale: 0 },
      { customer_id: 11000, order_date: '2013-07-05', frequency: 1, order_starts: 1, continued_from: '{2013-06-20}', spend_scale: 0 },
      { customer_id: 11000, order_date: '2013-08-10', frequency: 2, order_starts: 2, continued_from: null, spend_scale: 1 },
      { customer_id: 11000, order_date: '2013-10-20', frequency: 3, order_starts: 3, continued_from: null, spend_scale: 0 },
    ]);
  });
});

describe('silver.int_customer_cutoffs', () => {
  it('counts an order continued into a window once, in that window, and gives the spend the scale of the window lines', async () => {
    const rows = await db.rows<{ cutoff_date: string; frequency: number; monetary: string; next_spend: string; next_orders: number }>(
      `select cutoff_date::text as cutoff_date, frequency, monetary::text as monetary, next_spend::text as next_spend, next_orders
         from silver.int_customer_cutoffs where customer_id = 11000 order by cutoff_date`);
    expect(rows).toEqual([
      { cutoff_date: '2013-07-01', frequency: 1, monetary: '20', next_spend: '130.5', next_orders: 2 },
      { cutoff_date: '2013-08-01', frequency: 1, monetary: '140', next_spend: '30.5', next_orders: 2 },
      { cutoff_date: '2013-09-01', frequency: 2, monetary: '150.5', next_spend: '20', next_orders: 1 },
      { cutoff_date: '2013-10-01', frequency: 2, monetary: '150.5', next_spend: '20', next_orders: 1 },
    ]);
  });

  it('has every label equal to a direct recomputation from silver.sales_clean, with its scale', async () => {
    const r = await db.one<{ rows: number; wrong: number }>(
      `select count(*)::int as rows,
              count(*) filter (where (c.next_spend::text, c.next_orders) is distinct from (direct.spend::text, direct.orders)
                or c.monetary::text is distinct from before.spend::text or c.frequency is distinct from before.orders)::int as wrong
         from silver.int_customer_cutoffs as c
         cross join lateral (
           select coalesce(sum(line.sales_amount), 0) as spend, count(distinct line.order_number)::int as orders
             from silver.sales_clean as line
            where line.customer_id = c.customer_id and line.order_date >= c.cutoff_date and line.order_date < c.cutoff_date + 90
         ) as direct
         cross join lateral (
           select sum(line.sales_amount) as spend, count(distinct line.order_number)::int as orders
             from silver.sales_clean as line
            where line.customer_id = c.customer_id and line.order_date < c.cutoff_date
         ) as before`);
    expect(r.rows).toBe(11);
    expect(r.wrong).toBe(0);
  });
});
