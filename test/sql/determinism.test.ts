/**
 * Determinism of the silver and gold models: the same generated inputs (scale 0.02) built twice with
 * the same --as-of into two targets give identical tables (checksums of every silver and gold table);
 * a build with an earlier --as-of holds only the lines ordered before it, and of those it changes
 * nothing of fact_sales' point-in-time columns; customer_features and sales_daily follow the as_of.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/index.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';
import { describeFailure, runBuild, sqlFor } from './helpers.ts';

const first = uniqueTarget('sql_det_a');
const second = uniqueTarget('sql_det_b');
const earlier = uniqueTarget('sql_det_c');
const EARLIER_AS_OF = '2013-07-01';
let asOf: string;
let dir: string | undefined;

/** Columns of fact_sales fixed at the order (everything but the lifetime columns, which include the future). */
const POINT_IN_TIME = `order_number, product_key, product_id, customer_id, order_date, ship_date, due_date, order_date_source,
  quantity, price, sales_amount, product_cost, profit, profit_margin, amount_repair,
  customer_name, gender, marital_status, country, birthdate, age, age_bracket, customer_known,
  product_name, category, subcategory, maintenance, product_line, prd_status, product_version_match,
  order_year, order_quarter, order_month, order_iso_week, order_day_of_week, order_day_of_month, is_weekend, days_to_ship, days_to_due,
  customer_order_seq, is_first_order, prior_orders, prior_spend, prior_avg_order_value, days_since_prev_order, customer_tenure_days`;

async function tables(target: string): Promise<string[]> {
  const rows = await query<{ t: string }>(
    `select table_schema || '.' || table_name as t from information_schema.tables
      where table_schema in ($1, $2) order by 1`,
    [`${target}_silver`, `${target}_gold`],
  );
  return rows.map((r) => r.t.slice(target.length + 1)); // 'silver.customers', ...
}

async function checksum(target: string, table: string, columns = '*', where = 'true'): Promise<{ rows: number; md5: string | null }> {
  const [r] = await query<{ rows: number; md5: string | null }>(
    `select count(*)::int as rows, md5(string_agg(t::text, '|' order by t::text)) as md5
       from (select ${columns} from ${target}_${table} where ${where}) as t`,
  );
  return r!;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medallion-sql-det-'));
  const manifest = await generate({ scale: 0.02, seed: 7, outDir: dir, manifest: true });
  const d = new Date(`${manifest.period.lastOrderDate}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  asOf = d.toISOString().slice(0, 10);
  for (const [target, date] of [[first, asOf], [second, asOf], [earlier, EARLIER_AS_OF]] as const) {
    const r = await runBuild(dir, target, date);
    expect(r.code, `${target}: ${describeFailure(r)}`).toBe(0);
  }
});

afterAll(async () => {
  for (const t of [first, second, earlier]) await dropTarget(t);
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('same inputs + same as_of', () => {
  it('give identical silver and gold tables (checksum of every table)', async () => {
    const names = await tables(first);
    expect(names).toEqual(await tables(second));
    expect(names).toEqual(expect.arrayContaining(['gold.fact_sales', 'gold.customer_features', 'gold.sales_daily', 'silver.customers', 'silver.products', 'silver.sales_clean']));
    const a = Object.fromEntries(await Promise.all(names.map(async (t) => [t, await checksum(first, t)] as const)));
    const b = Object.fromEntries(await Promise.all(names.map(async (t) => [t, await checksum(second, t)] as const)));
    expect(b).toEqual(a);
    expect(a['gold.fact_sales']?.rows).toBeGreaterThan(0);
  });

  it('give identical rule counts', async () => {
    const [a, b] = await Promise.all([sqlFor(first).ruleCounts(), sqlFor(second).ruleCounts()]);
    expect(b).toEqual(a);
    expect(await sqlFor(first).asOf()).toBe(asOf);
  });
});

describe('another as_of', () => {
  it('is recorded by the run', async () => {
    expect(await sqlFor(earlier).asOf()).toBe(EARLIER_AS_OF);
  });

  it('holds the lines ordered before it, their fact_sales point-in-time columns unchanged', async () => {
    const before = `order_date < '${EARLIER_AS_OF}'`;
    expect(await checksum(earlier, 'gold.fact_sales', POINT_IN_TIME)).toEqual(await checksum(first, 'gold.fact_sales', POINT_IN_TIME, before));
    expect((await checksum(earlier, 'gold.fact_sales')).rows).toBeLessThan((await checksum(first, 'gold.fact_sales')).rows);
  });

  it('changes customer_features: only orders before the as_of count, recency is measured from it', async () => {
    expect((await checksum(earlier, 'gold.customer_features')).md5).not.toBe((await checksum(first, 'gold.customer_features')).md5);
    const db = sqlFor(earlier);
    // recomputed independently from the fact_sales of the later as_of (which holds every order)
    const mismatches = await db.rows(
      `with orders as (
         select customer_id, count(distinct order_number)::int as frequency, max(order_date) as last_order_date, sum(sales_amount) as monetary
           from ${first}_gold.fact_sales where order_date < $1::date and customer_known group by customer_id
       )
       select f.customer_id, f.frequency, o.frequency as expected_frequency, f.recency_days
         from gold.customer_features as f left join orders as o using (customer_id)
        where f.frequency <> coalesce(o.frequency, 0)
           or f.last_order_date is distinct from o.last_order_date
           or f.monetary <> coalesce(o.monetary, 0)
           or f.recency_days is distinct from ($1::date - o.last_order_date)`,
      [EARLIER_AS_OF],
    );
    expect(mismatches).toEqual([]);
    const cmp = await query<{ later_orders: number; no_orders_first: number; no_orders_earlier: number; customers_first: number; customers_earlier: number; recency_shift_ok: boolean }>(
      `select
         (select count(*) from ${first}_gold.fact_sales where order_date >= $1::date)::int as later_orders,
         (select count(*) from ${first}_gold.customer_features)::int as customers_first,
         (select count(*) from ${earlier}_gold.customer_features)::int as customers_earlier,
         (select count(*) from ${first}_gold.customer_features where frequency = 0)::int as no_orders_first,
         (select count(*) from ${earlier}_gold.customer_features where frequency = 0)::int as no_orders_earlier,
         (select bool_and(e.recency_days = a.recency_days - ($2::date - $1::date))
            from ${earlier}_gold.customer_features as e join ${first}_gold.customer_features as a using (customer_id)
           where a.last_order_date < $1::date) as recency_shift_ok`,
      [EARLIER_AS_OF, asOf],
    );
    expect(cmp[0]!.later_orders).toBeGreaterThan(0);
    // a customer whose first order is on or after the as_of is not known yet; one who never ordered is
    expect(cmp[0]!.no_orders_earlier).toBe(cmp[0]!.no_orders_first);
    expect(cmp[0]!.customers_earlier).toBeLessThan(cmp[0]!.customers_first);
    expect(cmp[0]!.recency_shift_ok).toBe(true);
  });

  it('changes sales_daily: the series ends before the as_of, and the days it keeps are unchanged', async () => {
    const [bounds] = await query<{ last: string; extra: number }>(
      `select (select max(date) from ${earlier}_gold.sales_daily)::text as last,
              (select count(*) from (select * from ${earlier}_gold.sales_daily except all select * from ${first}_gold.sales_daily) as d)::int as extra`,
    );
    expect(bounds!.last < EARLIER_AS_OF).toBe(true);
    expect(bounds!.extra).toBe(0);
    const [{ n }] = (await query<{ n: number }>(`select count(*)::int as n from ${first}_gold.sales_daily where date >= $1::date`, [EARLIER_AS_OF])) as [{ n: number }];
    expect(n).toBeGreaterThan(0);
  });
});
